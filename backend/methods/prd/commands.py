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


def eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", default="prd-demo", metavar="G", help="a PRD generator: a folder, a job id or 'prd-demo' (default)")
    parser.add_argument("--data-dir", metavar="DIR", help="the backend's data directory, for job ids")
    parser.add_argument("--split-seed", type=int, default=0, metavar="S", help="the text world's split the student trained on (default 0)")
    parser.add_argument("--stacks", action="store_true", help="also score two-object stacks (default: single objects, the demo's corpus)")
    parser.add_argument("--train-prompts", type=int, default=8, metavar="N", help="training prompts scored, spread over the split (default 8)")
    parser.add_argument("--seeds", type=int, default=2, metavar="K", help="noises per prompt, seeds 0 … K−1 (default 2)")
    parser.add_argument("--resolution", type=int, default=32, metavar="N", help="cells per axis of the scoring grid (default 32)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")


def run_eval(args: argparse.Namespace) -> int:
    from .evaluate import run_evaluation

    return run_evaluation(args)
