"""``distill3d train --method prd``: PRD distillation in this process, or data-parallel across processes under ``torchrun``."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import torch

from ...engine.distributed import check_replicas_agree, data_parallel
from ..base import MethodError
from ..progress import console_reporter
from .config import PRDConfig
from .generator import save_generator
from .student import base_folder, load_student
from .train import TrainableParts, distil


def run_training(config: PRDConfig, out: Path, work: Path | None, seed: int, device: str) -> int:
    """Train and save the student as a PRD generator folder at ``out``; returns the exit status. Rerunning the same
    command resumes from ``work``'s checkpoint."""
    work = work or out.with_name(out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    with data_parallel(device) as process:
        try:
            if process.rank == 0:  # one process builds a tiny base; the others wait and read it
                base_folder(config.student, work)
            process.barrier()
            base = base_folder(config.student, work)
            student, prompts = load_student(config.student, base, process.device, seed)
            started = time.monotonic()
            distil(student, prompts, config, work, console_reporter(work, process.rank), process.device, seed, process.rank)
            if process.world > 1:
                check_replicas_agree(TrainableParts(student))
            if process.rank == 0:
                about = {"made_by": "distill3d train --method prd", "command": shlex.join(["distill3d", *sys.argv[1:]]),
                         "steps": config.train.steps, "teachers": list(config.train.teachers), "prompts": config.train.prompts, "seed": seed,
                         "seconds_this_run": round(time.monotonic() - started), "processes": process.world,
                         "threads": torch.get_num_threads()}  # fmt: skip
                save_generator(out, student, config.inference, base if config.student.base == "tiny" else config.student.base, about)
                print(f"wrote {out} (PRD generator) — try: distill3d sample --generator {out} --prompt 'a red cube' --n 4 --out {out.name}-samples",
                      file=sys.stderr)  # fmt: skip
            process.barrier()
        except (MethodError, ValueError, OSError) as exc:
            print(f"distill3d train: {exc}", file=sys.stderr)
            return 2
    return 0
