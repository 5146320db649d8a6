"""One job of a method's preset, measured in a process of its own: ``python -m backend.bench.footprint_job``.

:mod:`.footprint_bench` starts this module in a fresh interpreter, so the peak memory is the job's alone. The process
imports torch and the method, builds the inputs of the method's example job (its prompt, image, camera and arrays —
not its params: the job runs the preset with the ``--params`` given) and creates the method, then starts counting:

- CPU: the peak resident memory (Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` once the setup is done; where
  that is not possible, ``ru_maxrss`` over the whole process) less the resident memory at that moment (the baseline);
- CUDA: ``torch.cuda.max_memory_reserved`` (what the allocator took from the driver) and ``max_memory_allocated``;
- wall seconds of ``method.run``; with ``--max-steps N`` the job is stopped after N progress steps and the whole job's
  seconds are projected from the fraction of its plan done (setup costs of later stages are not in it).

It writes one JSON object to ``--result`` (:func:`measure`'s return value, or ``{"error": ...}``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from protocol.atomic import write_text


def status_bytes(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes; None where there is no such file."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name == field:
                    return int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Start the peak resident memory (``VmHWM``) afresh from the current one (Linux ≥ 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    """This process's peak resident memory, bytes (``VmHWM``, else ``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = status_bytes("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


@dataclass
class StepCount:
    """How far a job got, read from its progress calls."""

    limit: int | None
    """Stop the job (``JobCancelled``) after this many progress steps; None: run it to the end."""
    steps: int = 0
    """Progress calls with a step > 0 so far."""
    fraction: float = 0.0
    """Fraction of the job's plan done at the last progress call, 0..1."""
    plan: tuple[tuple[str, int], ...] = ()
    """The job's declared stages and their step counts."""

    @property
    def total_steps(self) -> int:
        """Steps in the job's plan (0 when it declared none)."""
        return sum(n for _, n in self.plan)


def measure(method: str, preset: str, params: dict[str, Any], device: str, max_steps: int | None) -> dict[str, Any]:
    """Run one job of ``method``/``preset`` with ``params`` on ``device`` (``cpu`` or ``cuda``) and measure it; returns
    plain data: ``peak_bytes``, ``baseline_bytes``, ``seconds`` (measured), ``fraction``, ``steps``, ``total_steps``,
    ``allocated_bytes`` (CUDA), ``device_name``, ``torch_version``, ``threads``, ``peak_reset`` (VmHWM could be reset)."""
    import torch

    from .. import methods
    from ..methods.base import JobContext, JobInputs
    from ..methods.configs import check_inputs, resolve
    from ..methods.progress import JobCancelled, ProgressReporter, job_fraction

    cuda = device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    torch_device = "cuda:0" if cuda else "cpu"
    entry = methods.get(method)
    _, config = resolve(entry, preset, params)
    check_inputs(config)
    count = StepCount(max_steps)

    class CountingReporter(ProgressReporter):
        def plan(self, stages: Sequence[tuple[str, int]]) -> None:
            super().plan(stages)
            count.plan = tuple((str(name), int(n)) for name, n in stages)

        def progress(self, stage: str, step: int, total: int, message: str = "") -> None:
            super().progress(stage, step, total, message)
            count.fraction = job_fraction(count.plan, stage, step, total)
            count.steps += step > 0
            if count.limit is not None and count.steps >= count.limit:
                raise JobCancelled()

    def emit(kind: str, data: dict, payload: bytes | None) -> None:
        if kind == "progress":
            print(f"{data['stage']}: {data['step']}/{data['total']}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        example = methods.resolve_reference(entry.example)(folder) if entry.example else None
        inputs = JobInputs(example.prompt if example else "", "", 0, example.camera if example else None,
                           example.image if example else None, dict(example.arrays) if example else {})  # fmt: skip
        context = JobContext(job_id="footprint", device=torch_device, work_dir=folder / "work", reporter=CountingReporter(emit, min_interval_s=10.0),
                             generator_dir=folder / "generator", generators=methods.generator_catalog())  # fmt: skip
        context.work_dir.mkdir()
        runner = methods.create(method)
        gc.collect()
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        peak_reset = reset_peak_rss()
        rss_before = status_bytes("VmRSS") or peak_rss_bytes()
        started = time.perf_counter()
        try:
            runner.run(inputs, config, context)
        except JobCancelled:
            if max_steps is None:
                raise
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        rss_peak = peak_rss_bytes()
    if cuda:
        peak, allocated, baseline = int(torch.cuda.max_memory_reserved()), int(torch.cuda.max_memory_allocated()), 0
        name = torch.cuda.get_device_name(0)
    else:
        peak, allocated, baseline = max(rss_peak - rss_before, 0), 0, rss_before
        name = f"{os.cpu_count()} CPU cores"
    return {
        "peak_bytes": peak, "baseline_bytes": baseline, "allocated_bytes": allocated, "seconds": seconds,
        "fraction": count.fraction if max_steps is not None else 1.0, "steps": count.steps, "total_steps": count.total_steps,
        "device_name": name, "torch_version": torch.__version__, "threads": torch.get_num_threads(), "peak_reset": peak_reset,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.bench.footprint_job", description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--params", default="{}", help="the job's dotted overrides, as a JSON object")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    try:
        result = measure(args.method, args.preset, json.loads(args.params), args.device, args.max_steps)
    except Exception as exc:  # reported by the parent, which records nothing
        write_text(args.result, json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        raise
    write_text(args.result, json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
