"""``distill3d train``: CAD distillation in this process, or data-parallel across processes launched by ``torchrun``.

Under ``torchrun`` (``WORLD_SIZE`` > 1) each process joins the process group — NCCL on GPUs, gloo on
CPUs — takes GPU ``LOCAL_RANK``, and trains on its share of every batch; the gradients are
averaged across processes (:mod:`.train`). Rank 0 samples the prior cache, prints progress,
writes checkpoints and previews, and saves the generator folder. Rerunning the same command
resumes from the work folder's prior cache and checkpoint.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from protocol.atomic import write_bytes
from protocol.messages import Camera

from ..base import JobInputs, MethodError
from ..progress import ProgressReporter
from .config import CADConfig
from .pipeline import distill, export_generator

PRINT_EVERY_S = 10.0
"""Seconds between progress lines."""


def _device(requested: str, local_rank: int) -> str:
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        raise MethodError("--device cuda: no CUDA device is visible")
    return f"cuda:{local_rank % torch.cuda.device_count()}"


def check_replicas_agree(module: torch.nn.Module) -> None:
    """Raise when the processes' copies of ``module`` differ (data parallelism keeps them equal step by step)."""
    checksum = torch.stack([p.detach().double().sum() for p in module.parameters()]).cpu()
    gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, checksum)
    if any(not torch.allclose(g, gathered[0], rtol=1e-6) for g in gathered):
        raise RuntimeError("the data-parallel replicas of the generator diverged")


def console_reporter(work: Path, rank: int) -> ProgressReporter:
    """Progress lines on stderr (every :data:`PRINT_EVERY_S` and at stage ends) and the latest preview in ``work``,
    from rank 0 only."""

    def emit(kind: str, data: dict, payload: bytes | None) -> None:
        if rank != 0:
            return
        if kind == "progress":
            print(f"{data['stage']}: {data['step']}/{data['total']} {data['message']}", file=sys.stderr, flush=True)
        elif kind == "log":
            print(data["message"], file=sys.stderr, flush=True)
        elif kind == "preview" and payload is not None:
            write_bytes(work / f"preview.{'png' if data['media_type'] == 'image/png' else 'jpg'}", payload)

    return ProgressReporter(emit, min_interval_s=PRINT_EVERY_S)


def run_training(config: CADConfig, out: Path, work: Path | None, seed: int, device: str, elevation: float | None) -> int:
    """Train and save the generator to ``out``; returns the exit status."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(device, local_rank)
    if world > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    work = work or out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    reporter = console_reporter(work, rank)
    inputs = JobInputs("", "", seed, Camera(elevation_deg=elevation) if elevation is not None else None, None)
    try:
        run = distill(config, inputs, work, device, reporter)
        if world > 1:
            check_replicas_agree(run.trainer.G)
        if rank == 0:
            export_generator(run, config, out, device)
            print(f"wrote {out} (generator) — try: distill3d sample --generator {out} --n 4 --out {out.name}-samples", file=sys.stderr)
        if world > 1:
            dist.barrier()
    except MethodError as exc:
        print(f"distill3d train: {exc}", file=sys.stderr)
        return 2
    finally:
        if world > 1:
            dist.destroy_process_group()
    return 0
