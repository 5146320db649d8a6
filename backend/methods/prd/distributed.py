"""``distill3d train --method prd``: PRD distillation in this process, or data-parallel across processes under ``torchrun``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch.distributed as dist

from ...engine.distributed import check_replicas_agree, device_for
from ..base import MethodError
from ..progress import console_reporter
from .config import PRDConfig
from .generator import save_generator
from .student import base_folder, load_student
from .train import TrainableParts, distil


def run_training(config: PRDConfig, out: Path, work: Path | None, seed: int, device: str) -> int:
    """Train and save the student as a PRD generator folder at ``out``; returns the exit status. Rerunning the same
    command resumes from ``work``'s checkpoint."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = device_for(device, local_rank)
    if world > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    work = work or out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    reporter = console_reporter(work, rank)
    try:
        base = base_folder(config.student, work)
        student, prompts = load_student(config.student, base, device, seed)
        distil(student, prompts, config, work, reporter, device, seed, rank)
        if world > 1:
            check_replicas_agree(TrainableParts(student))
        if rank == 0:
            about = {"made_by": "distill3d train --method prd", "steps": config.train.steps, "teachers": list(config.train.teachers),
                     "prompts": config.train.prompts, "seed": seed}  # fmt: skip
            save_generator(out, student, config.inference, base if config.student.base == "tiny" else config.student.base, about)
            print(f"wrote {out} (PRD generator) — try: distill3d sample --generator {out} --prompt 'a red cube' --n 4 --out {out.name}-samples",
                  file=sys.stderr)  # fmt: skip
        if world > 1:
            dist.barrier()
    except (MethodError, ValueError, OSError) as exc:
        print(f"distill3d train: {exc}", file=sys.stderr)
        return 2
    finally:
        if world > 1:
            dist.destroy_process_group()
    return 0
