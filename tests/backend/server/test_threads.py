"""Workers' torch threads: one core is left to the broker, the client and Blender, and the worker really runs that many."""

import os
import subprocess
import sys

import pytest
import torch

from backend.server.threads import default_threads
from backend.server.worker_main import resolve_device


@pytest.mark.parametrize("cores, workers, threads", [(1, 1, 1), (2, 1, 1), (4, 1, 3), (16, 1, 15), (16, 4, 3), (2, 3, 1), (8, 0, 7)])
def test_workers_leave_a_core_free_and_share_the_rest(cores, workers, threads):
    assert default_threads(cores, workers) == threads


def test_resolving_the_device_sets_the_workers_threads_and_says_so(monkeypatch):
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)  # restored after the test: resolve_device sets them
    before = torch.get_num_threads()
    try:
        device, info = resolve_device("cpu", 0, threads=1)
        assert device == "cpu" and torch.get_num_threads() == 1 and info["detail"] == "1 thread per worker"
        assert os.environ["OMP_NUM_THREADS"] == "1", "for a torch imported later in the process"
        _, info = resolve_device("cpu", 0, threads=2)
        assert torch.get_num_threads() == 2 and info["detail"] == "2 threads per worker"
    finally:
        torch.set_num_threads(before)


def test_a_worker_that_imports_torch_later_gets_the_threads_too():
    code = ("from backend.server.worker_main import resolve_device; resolve_device('cpu', 0, threads=1); "
            "import torch; print(torch.get_num_threads())")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")})  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr[-1000:]
