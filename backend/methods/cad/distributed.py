"""``distill3d train``: CAD distillation in this process, or data-parallel across processes launched by ``torchrun``.

Under ``torchrun`` (``WORLD_SIZE`` > 1) each process joins the process group — NCCL on GPUs, gloo on
CPUs — takes GPU ``LOCAL_RANK``, and trains on its share of every batch; the gradients are
averaged across processes (:mod:`.train`). Rank 0 samples the prior cache, prints progress,
writes checkpoints and previews, and saves the generator folder. Rerunning the same command
resumes from the work folder's prior cache and checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path


from protocol.messages import Camera

from ...engine.distributed import check_replicas_agree, data_parallel
from ..base import JobInputs, MethodError
from ..progress import console_reporter
from .config import CADConfig
from .pipeline import distill, export_generator

def run_training(config: CADConfig, out: Path, work: Path | None, seed: int, device: str, elevation: float | None) -> int:
    """Train and save the generator to ``out``; returns the exit status."""
    work = work or out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    inputs = JobInputs("", "", seed, Camera(elevation_deg=elevation) if elevation is not None else None, None)
    with data_parallel(device) as process:
        try:
            run = distill(config, inputs, work, process.device, console_reporter(work, process.rank))
            if process.world > 1:
                check_replicas_agree(run.trainer.G)
            if process.rank == 0:
                export_generator(run, config, out, process.device)
                print(f"wrote {out} (generator) — try: distill3d sample --generator {out} --n 4 --out {out.name}-samples", file=sys.stderr)
            process.barrier()
        except MethodError as exc:
            print(f"distill3d train: {exc}", file=sys.stderr)
            return 2
    return 0
