"""``distill3d bench prd``: seconds per mesh by stage — text encode, 4 UNet steps, decode, marching cubes, export — and peak
GPU memory, for the tiny test student and for SD 2.1-base's full-size UNet, VAE decoder and text encoder with random
weights (compute does not depend on the weights' values). On a CPU compare the rows of one run, not absolute times."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from ...core.export import Timings
from ...table import print_table
from .config import InferenceConfig, StudentConfig
from .generator import PRDGenerator

TINY_BENCH = StudentConfig(base="tiny", plane_latent=8, rank=8, tiny_pretrain_steps=0)
"""The tiny student's sizes (the demo's); its base is not pretrained here: the time of a step does not depend on the weights."""


def _tiny(device: str, scratch: Path) -> PRDGenerator:
    from .student import base_folder, load_student

    student, prompts = load_student(TINY_BENCH, base_folder(TINY_BENCH, scratch), device)
    return PRDGenerator(student, prompts, InferenceConfig(), device)


def _sd21(device: str) -> PRDGenerator:
    from ...teachers.random_weights import full_size_teacher, sd_scheduler
    from .student import PRDStudent

    teacher = full_size_teacher("stable_diffusion", device, torch.float32)
    student = PRDStudent(teacher.unet, teacher.vae, sd_scheduler(), StudentConfig())
    return PRDGenerator(student, teacher.prompts, InferenceConfig(), device)


def _time(generator: PRDGenerator, resolution: int, repeats: int, device: str) -> tuple[dict[str, float], int, float]:
    """Mean seconds per stage over ``repeats`` meshes (after a warm-up), faces, peak GPU GiB."""
    generator.inference = InferenceConfig(mesh_resolution=resolution, texture_size=1024)
    totals: dict[str, float] = {}
    faces = 0
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for index in range(repeats + 1):
        timings = Timings()
        started = time.perf_counter()
        generator.prompts._cache.clear()  # every mesh encodes its prompt
        condition = generator.condition(f"a red cube number {index}")
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        timings.time("text", started)
        asset = generator.asset(generator.latent(index, 1.0, condition), "full", timings)
        started = time.perf_counter()
        asset.to_glb()
        timings.time("glb", started)
        faces = len(asset.faces)
        if index:  # the first is the warm-up
            for name, seconds in timings.stages.items():
                totals[name] = totals.get(name, 0.0) + seconds / repeats
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    return totals, faces, peak


def run_prd_bench(configs: list[str], repeats: int, device: str, resolution: int, out: TextIO = sys.stdout) -> None:
    if repeats < 1:
        raise SystemExit("bench prd needs --repeats ≥ 1")
    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    rows, baseline = [], None
    with tempfile.TemporaryDirectory() as scratch:
        for name in configs:
            generator = _tiny(device, Path(scratch)) if name == "tiny" else _sd21(device)
            with torch.no_grad():
                stages, faces, peak = _time(generator, resolution, repeats, device)
            total = sum(stages.values())
            baseline = baseline or total
            export = sum(stages.get(s, 0.0) for s in ("cleanup", "normals", "uv_unwrap", "bake", "glb"))
            rows.append((name, *(f"{stages.get(s, 0.0):.3f}" for s in ("text", "unet", "decode", "marching_cubes")), f"{export:.3f}",
                         f"{total:.3f}", f"{total / baseline:.1f}×", str(faces), "—" if np.isnan(peak) else f"{peak:.2f}"))  # fmt: skip
            del generator
    label = torch.cuda.get_device_name() if device.startswith("cuda") else f"{os.cpu_count()} CPU cores"
    print(f"distill3d bench prd — {device} ({label}), random weights, {repeats} meshes per config after a warm-up, marching cubes {resolution}³", file=out)
    print_table("Seconds per mesh (prompt → UV-textured GLB)",
                ("config", "text", "4 UNet steps", "decode", "marching cubes", "export", "total", "vs first", "faces", "peak GiB"), rows, out)  # fmt: skip
