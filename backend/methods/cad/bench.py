"""``distill3d bench cad``: training steps/s per stage and preset, and the latency of sampling and scrubbing.

Training runs the real :class:`~backend.methods.cad.train.Trainer` — G, D, the patch D, lazy R1,
ADA, EMA, LPIPS in stage 2 — on random prior images at the preset's resolutions, from random
weights (a step's compute does not depend on the weights' values). Sampling and interpolation
are timed on a generator folder (by default the shipped demo generator, whose meshes are real
surfaces): a preview mesh (coarse marching cubes, vertex colours — what the interpolation
slider requests), a full-quality mesh (UVs, baked texture, GLB), and interpolation updates/s
(mix two latents + preview mesh). The first training row is the baseline of the ratios.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

import torch

from ...table import print_table


def _time_training(preset: str, steps: int, device: str) -> tuple[float, float, float]:
    """Mean seconds per step of stage 1 and stage 2 (after one warm-up step each), and the hours the preset's
    whole schedule (``stage1_steps`` + ``stage2_steps``) would take at those rates."""
    from .. import get
    from ..configs import resolve
    from .train import PriorData, Trainer

    _, schedule = resolve(get("cad"), preset, {"prior": "synthetic", "family": "snowman"})
    _, config = resolve(get("cad"), preset, {"prior": "synthetic", "family": "snowman", "train.stage2_steps": max(steps, 1)})  # stage 2 exists
    side, count = config.generator.image_resolution, max(config.train.batch * 2, 8)
    random = torch.Generator().manual_seed(0)
    poses = torch.stack([torch.rand(count, generator=random) * 60 - 10, torch.rand(count, generator=random) * 360 - 180, torch.full((count,), 2.0)], dim=-1)
    trainer = Trainer(config, PriorData(torch.rand(count, 3, side, side, generator=random), poses), device, 0)
    timings = []
    for first_step in (0, config.train.stage1_steps):
        trainer.step_index = first_step
        trainer.step()  # warm-up (LPIPS load, allocator, kernels)
        _sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        _sync(device)
        timings.append((time.perf_counter() - started) / steps)
    hours = (timings[0] * schedule.train.stage1_steps + timings[1] * schedule.train.stage2_steps) / 3600
    return timings[0], timings[1], hours


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time_sampling(generator_spec: str, repeats: int, device: str) -> tuple[float, float, float, int, int]:
    """``(preview s, full s, interpolation updates/s, preview faces, full faces)`` of the generator."""
    from ...generators import load
    from .. import generator_catalog

    generator = load(generator_spec, generator_catalog(), device)
    a, b = generator.latent(0, 0.7), generator.latent(1, 0.7)
    generator.asset(a, "preview")  # warm-ups: kernels, allocator
    generator.asset(b, "full").to_glb()
    started = time.perf_counter()
    for k in range(repeats):
        preview = generator.asset(generator.mix(a, b, k / max(repeats - 1, 1)), "preview")
    updates = repeats / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(repeats):
        generator.asset(a, "preview")
    preview_s = (time.perf_counter() - started) / repeats
    started = time.perf_counter()
    full = generator.asset(a, "full")
    full.to_glb()
    full_s = time.perf_counter() - started
    return preview_s, full_s, updates, len(preview.faces), len(full.faces)


def run_cad_bench(presets: list[str], steps: int, device: str, generator: str | None, repeats: int = 5, out: TextIO = sys.stdout) -> None:
    if steps < 1:
        raise SystemExit("bench cad needs --steps ≥ 1")
    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    rows, baseline = [], None
    for preset in presets:
        stage1, stage2, hours = _time_training(preset, steps, device)
        baseline = baseline or stage1
        rows.append((preset, f"{stage1:.3f}", f"{1 / stage1:.2f}", f"{stage2:.3f}", f"{1 / stage2:.2f}", f"{hours:.2f}", f"{stage1 / baseline:.1f}×"))
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"{os.cpu_count()} CPU cores"
    print(f"distill3d bench cad — {device} ({name}), random weights, {steps} timed steps per stage", file=out)
    print_table("Training per preset (stage 1: 2D upsampler + ADA; stage 2: 3D upsampler, patches, LPIPS)",
                ("preset", "stage-1 s/step", "steps/s", "stage-2 s/step", "steps/s", "projected h", "stage-1 vs first"), rows, out)  # fmt: skip
    if generator:
        from .demo import DEMO_GENERATOR

        spec = str(DEMO_GENERATOR) if generator == "shipped" else generator
        preview_s, full_s, updates, preview_faces, full_faces = _time_sampling(spec, repeats, device)
        print_table(f"Sampling and scrubbing ({'the shipped demo generator' if generator == 'shipped' else generator})",
                    ("preview ms", "faces", "full ms (with GLB)", "faces", "interpolation updates/s"),
                    [(f"{preview_s * 1000:.0f}", str(preview_faces), f"{full_s * 1000:.0f}", str(full_faces), f"{updates:.1f}")], out)  # fmt: skip
