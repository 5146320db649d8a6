"""How many intra-op threads each worker's torch uses on the CPU.

torch's OpenMP threads spin while they wait for each other; when a thread's core is taken by another process (the
broker, the client, Blender itself, a second worker) the others spin until it is scheduled again. On a 2-core machine
with one core busy, a tiny DTC123 job that takes 53 s on one thread did not finish its first stage in 10 minutes on
two (README, "Threads"). Workers therefore leave one core to everything else.
"""

from __future__ import annotations


def default_threads(cores: int, workers: int) -> int:
    """Threads per worker: the cores less one, shared among the workers, at least 1."""
    return max(1, (cores - 1) // max(workers, 1))
