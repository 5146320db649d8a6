"""PRD's ``distill3d`` commands: ``train --method prd`` and ``bench prd`` (no torch until one runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def train_arguments(parser: argparse.ArgumentParser) -> None:
    """``train --method prd`` needs only the common arguments (--preset, --set, --out, --work, --seed, --device)."""


def run_train(args: argparse.Namespace) -> int:
    """Distil a PRD student in this process (no server); under ``torchrun`` every process trains on its own prompts and the
    gradients are averaged. Writes a PRD generator folder to ``--out``."""
    from .distributed import run_training

    return run_training(args.config, Path(args.out), Path(args.work) if args.work else None, args.seed, args.device)


def bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configs", nargs="+", default=["tiny", "sd21"], choices=["tiny", "sd21"],
                        help="student sizes to time: the tiny test config, and SD 2.1-base's full-size UNet and VAE (random weights)")
    parser.add_argument("--repeats", type=int, default=3, help="meshes timed per config (after one warm-up)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid (PRD: 128; its demo 160)")


def run_bench(args: argparse.Namespace) -> int:
    from .bench import run_prd_bench

    run_prd_bench(args.configs, args.repeats, args.device, args.resolution)
    return 0
