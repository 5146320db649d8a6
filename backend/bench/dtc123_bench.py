"""``distill3d bench dtc123``: seconds per iteration of each stage, and the projected total, per preset.

Each preset runs a few iterations of the real method on the synthetic world (a family member
as target, the synthetic teacher — whose cost is a rasterised render, far below a diffusion
UNet's, so on a GPU with real teachers the teacher calls dominate instead). The projected
total is s/iteration × the preset's iterations + the measured export. The ``tiny`` row is the
baseline the others are compared with, in the same run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import torch

from .table import print_table


def _time_preset(preset: str, iterations: int, device: str, folder: Path, work: Path) -> tuple[float, float, int]:
    """``(seconds per stage-1 iteration, export seconds, the preset's stage-1 iterations)``."""
    from protocol.messages import Camera

    from ..methods import get
    from ..methods.base import JobContext, JobInputs
    from ..methods.configs import resolve
    from ..methods.dtc123.pipeline import DTC123Method
    from ..methods.progress import ProgressReporter
    from ..teachers.synthetic.families import family
    from ..teachers.synthetic.glb_io import export_scene

    target = folder / "target.glb"
    if not target.exists():
        target.write_bytes(export_scene(family("mushroom").sample(torch.Generator().manual_seed(0)))[1])
    _, full = resolve(get("dtc123"), preset, {})
    overrides = {"teacher": "synthetic", "target": str(target), "coarse.iterations": iterations, "coarse.preview_every": 10_000, "coarse.checkpoint_every": 10_000}
    _, config = resolve(get("dtc123"), preset, overrides)
    stamps: dict[tuple[str, int], float] = {}

    def emit(kind, data, payload):
        if kind == "progress":
            stamps[data["stage"], data["step"]] = time.perf_counter()

    work.mkdir()
    context = JobContext(job_id=preset, device=device, work_dir=work, reporter=ProgressReporter(emit, min_interval_s=0.0), jobs_dir=folder)
    DTC123Method().run(JobInputs("", "", 0, Camera(elevation_deg=15.0), None), config, context)
    per_iteration = (stamps["coarse", iterations] - stamps["coarse", 1]) / (iterations - 1)
    return per_iteration, stamps["export", 1] - stamps["export", 0], full.coarse.iterations


def run_dtc123_bench(presets: list[str], iterations: int, device: str, out: TextIO = sys.stdout) -> None:
    if iterations < 3:
        raise SystemExit("bench dtc123 needs --iterations ≥ 3")
    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    baseline = None
    with tempfile.TemporaryDirectory(prefix="distill3d-bench-") as folder:
        for index, preset in enumerate(presets):
            per_iteration, export, total_iterations = _time_preset(preset, iterations, device, Path(folder), Path(folder) / f"{index}-{preset}")
            baseline = baseline or per_iteration
            total = per_iteration * total_iterations + export
            rows.append((preset, f"{total_iterations:,}", f"{per_iteration:.3f}", f"{per_iteration / baseline:.1f}×", f"{export:.1f}", f"{total / 60:.1f}"))
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"{os.cpu_count()} CPU cores"
    print(f"distill3d bench dtc123 — {device} ({name}), synthetic teacher, {iterations} timed iterations per preset", file=out)
    print_table("Stage 1 (NeRF) per preset; stage 2 is not implemented yet", ("preset", "stage-1 its", "s/it", "vs first", "export s", "projected min"), rows, out)
