"""``distill3d bench export``: iso-surface → UVs → bake → GLB, ours against the usual path, same run.

The asset is an analytic field (``workloads.torus_and_sphere`` with striped
colours), so the numbers measure the export pipeline rather than a network.
Ours extracts at the given marching-cubes resolution, decimates to the target
face count and unwraps with capped charts; the usual path is marching cubes at
256, xatlas with its defaults and a 1024² bake.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import TextIO

import torch

from ..core.export import ExportConfig, Timings, export_textured
from ..core.uv import DEFAULT
from ..table import print_table
from .workloads import BOX, stripes, torus_and_sphere

STAGES = ("field", "marching_cubes", "cleanup", "decimate", "uv_unwrap", "bake", "glb")


def _best(config: ExportConfig, repeats: int) -> tuple[Timings, int, int]:
    """The fastest of ``repeats`` runs (after one warm-up when repeating): timings, faces, GLB bytes."""
    runs = []
    for _ in range(repeats + (1 if repeats > 1 else 0)):
        asset, glb, timings = export_textured(torus_and_sphere, stripes, BOX, config)
        runs.append((timings, len(asset.faces), len(glb)))
    if repeats > 1:
        runs = runs[1:]
    return min(runs, key=lambda run: run[0].total)


def run_export_bench(
    targets: list[int], resolutions: list[int], usual_resolution: int | None, repeats: int, texture_size: int = 1024, out: TextIO = sys.stdout
) -> None:
    if len(targets) != len(resolutions):
        raise ValueError("give one marching-cubes resolution per target face count")
    base = ExportConfig()
    rows: list[tuple[str, ...]] = []
    totals: list[float] = []
    for target, resolution in zip(targets, resolutions):
        config = replace(base, resolution=resolution, target_faces=target, unwrap=replace(base.unwrap, texture_size=texture_size))
        timings, faces, size = _best(config, repeats)
        rows.append((f"ours: MC {resolution}, → {target:,} faces", f"{faces:,}", *_cells(timings), f"{size / 1e6:.1f}"))
        totals.append(timings.total)
    usual_total = None
    if usual_resolution:
        config = replace(base, resolution=usual_resolution, target_faces=0, unwrap=replace(DEFAULT, texture_size=texture_size))
        timings, faces, size = _best(config, 1)
        usual_total = timings.total
        rows.append((f"usual: MC {usual_resolution}, xatlas defaults", f"{faces:,}", *_cells(timings), f"{size / 1e6:.1f}"))
    speedups = [f"{usual_total / t:.0f}×" if usual_total else "–" for t in totals] + (["1×"] if usual_total else [])
    rows = [(*row, speedup) for row, speedup in zip(rows, speedups)]
    runs = f"best of {repeats} after a warm-up run" if repeats > 1 else "one run each"
    print(f"distill3d bench export — CPU, {os.cpu_count()} cores, torch {torch.__version__}, {texture_size}² texture, {runs}", file=out)
    print_table("Textured GLB export of a generated asset (seconds per stage)",
           ("path", "faces", *STAGES, "total", "GLB MB", "vs usual"), rows, out)


def _cells(timings: Timings) -> list[str]:
    return [f"{timings.stages.get(stage, 0.0):.3f}" for stage in STAGES] + [f"{timings.total:.2f}"]

