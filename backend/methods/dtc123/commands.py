"""DTC123's ``distill3d`` command: ``bench dtc123`` (no torch until it runs)."""

from __future__ import annotations

import argparse


def bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets", nargs="+", default=["tiny", "fast", "paper"])
    parser.add_argument("--iterations", type=int, default=8, help="timed iterations per stage and preset")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--teachers", default="synthetic", choices=["synthetic", "random"],
                        help="synthetic: the ground truth teaches; random: full-size random-weight Zero123-XL + SD 2 (for a GPU)")


def run_bench(args: argparse.Namespace) -> int:
    from .bench import run_dtc123_bench

    run_dtc123_bench(args.presets, args.iterations, args.device, args.teachers)
    return 0
