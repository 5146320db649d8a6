"""``distill3d bench dtc123``: seconds per iteration of each stage, and the projected total, per preset.

Each preset runs a few iterations of each stage of the real method on a family member of the synthetic
world. With ``teachers="synthetic"`` the ground truth is the teacher — its cost is a rasterised render,
far below a diffusion UNet's. With ``teachers="random"`` the teachers are full-size Zero123-XL and Stable
Diffusion 2 with random weights (:mod:`backend.teachers.random_weights`) and the target's render is the input image, so a
step costs what it costs with the real checkpoints (for a GPU). A shortened stage 2 keeps its phases, so
its mean s/iteration weighs each tet-grid and render resolution as the full stage does. The projected total
is s/iteration × the preset's iterations per stage + the measured export; the first row is the baseline
the others are compared with, in the same run.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import torch

from ...table import print_table

TEACHERS = ("synthetic", "random")
STAGES = ("coarse", "fine")


@dataclass
class PresetTiming:
    per_iteration: dict[str, float]
    """Stage → mean seconds per iteration (stages the preset runs)."""
    iterations: dict[str, int]
    """Stage → the preset's full iteration count."""
    export: float
    """Seconds of the export (unwrap, bake, GLB)."""

    @property
    def total(self) -> float:
        return sum(self.per_iteration[stage] * self.iterations[stage] for stage in self.per_iteration) + self.export


def _target_and_image(folder: Path) -> tuple[Path, object]:
    """A mushroom GLB and its 256² RGBA render (the input image of the ``random`` teachers)."""
    from PIL import Image

    from ...core.cameras import spherical_to_c2w
    from ...teachers.synthetic.families import family
    from ...teachers.synthetic.glb_io import export_scene
    from ...teachers.synthetic.render import SceneObject

    scene = family("mushroom").sample(torch.Generator().manual_seed(0))
    target = folder / "target.glb"
    target.write_bytes(export_scene(scene)[1])
    render = SceneObject(scene).render(spherical_to_c2w(torch.tensor([15.0]), torch.tensor([0.0]), torch.tensor([2.2])), 49.1, 256, 256)
    rgba = torch.cat([render.rgb[0], render.mask[0, ..., None]], dim=-1)
    image = Image.open(io.BytesIO(_png(rgba)))
    return target, image


def _png(rgba: torch.Tensor) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((rgba.clamp(0, 1).numpy() * 255 + 0.5).astype("uint8"), "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def _time_preset(preset: str, iterations: int, device: str, teachers: str, folder: Path, work: Path) -> PresetTiming:
    from protocol.messages import Camera

    from .. import get
    from ..base import JobContext, JobInputs
    from ..configs import resolve
    from ..progress import ProgressReporter
    from .pipeline import DTC123Method

    target, image = _target_and_image(folder)
    _, full = resolve(get("dtc123"), preset, {})
    runs = {"coarse": full.coarse.iterations, "fine": full.fine.iterations}
    timed = {stage: min(iterations, count) for stage, count in runs.items() if count}
    overrides = {
        "coarse.iterations": timed["coarse"], "coarse.preview_every": 10_000, "coarse.checkpoint_every": 10_000,
        "fine.iterations": timed.get("fine", 0), "fine.preview_every": 10_000, "fine.checkpoint_every": 10_000,
    }  # fmt: skip
    if teachers == "synthetic":
        overrides.update(teacher="synthetic", target=str(target))
    _, config = resolve(get("dtc123"), preset, overrides)
    stamps: dict[tuple[str, int], float] = {}

    def emit(kind, data, payload):
        if kind == "progress":
            stamps[data["stage"], data["step"]] = time.perf_counter()

    work.mkdir()
    context = JobContext(job_id=preset, device=device, work_dir=work, reporter=ProgressReporter(emit, min_interval_s=0.0), generator_dir=work / "generator")
    if teachers == "random":
        from ...teachers.random_weights import full_size_teacher

        method = DTC123Method(load_teacher=lambda role, where, memory: full_size_teacher(role, where, torch.bfloat16 if where.startswith("cuda") else None))
    else:
        method = DTC123Method()
    method.run(JobInputs("a mushroom", "", 0, Camera(elevation_deg=15.0), image if teachers == "random" else None), config, context)
    per_iteration = {stage: (stamps[stage, count] - stamps[stage, 1]) / (count - 1) for stage, count in timed.items()}
    return PresetTiming(per_iteration, {stage: runs[stage] for stage in timed}, stamps["export", 1] - stamps["export", 0])


def run_dtc123_bench(presets: list[str], iterations: int, device: str, teachers: str = "synthetic", out: TextIO = sys.stdout) -> None:
    if iterations < 3:
        raise SystemExit("bench dtc123 needs --iterations ≥ 3")
    if teachers not in TEACHERS:
        raise SystemExit(f"bench dtc123 --teachers must be one of {', '.join(TEACHERS)}")
    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    baseline = None
    with tempfile.TemporaryDirectory(prefix="distill3d-bench-") as folder:
        for index, preset in enumerate(presets):
            timing = _time_preset(preset, iterations, device, teachers, Path(folder), Path(folder) / f"{index}-{preset}")
            baseline = baseline or timing.total
            cells = []
            for stage in STAGES:
                seconds = timing.per_iteration.get(stage)
                cells += [f"{timing.iterations[stage]:,}", f"{seconds:.3f}"] if seconds is not None else ["0", "—"]
            rows.append((preset, *cells, f"{timing.export:.3f}", f"{timing.total / 60:.1f}", f"{timing.total / baseline:.1f}×"))
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"{os.cpu_count()} CPU cores"
    what = "full-size random-weight Zero123-XL + SD 2 (bf16 on CUDA)" if teachers == "random" else "synthetic teacher"
    print(f"distill3d bench dtc123 — {device} ({name}), {what}, up to {iterations} timed iterations per stage and preset", file=out)
    header = ("preset", "stage-1 its", "s/it", "stage-2 its", "s/it", "export s", "projected min", "vs first")
    print_table("Stage 1 (NeRF) and stage 2 (DMTet) per preset", header, rows, out)
