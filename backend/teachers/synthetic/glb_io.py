"""Synthetic objects to and from GLB files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from backend.core.export import ExportConfig, export_textured
from backend.core.glb import MeshAsset

from .render import MeshObject
from .shapes import Scene

SCENE_EXPORT = ExportConfig(resolution=96, target_faces=20_000)
"""Marching-cubes resolution and face budget for exported scenes (textures carry the patterns)."""


def export_scene(scene: Scene, config: ExportConfig = SCENE_EXPORT) -> tuple[MeshAsset, bytes]:
    """A scene as a textured mesh and GLB bytes, through the core export path (marching cubes of its SDF, UVs, bake)."""
    lo, hi = scene.bounds()
    margin = 0.05 * float(np.max(hi - lo)) + 0.02
    box = (float(lo.min()) - margin, float(hi.max()) + margin)
    asset, glb, _ = export_textured(scene.sdf, scene.albedo, box, replace(config, inside="negative", level=0.0))
    return asset, glb


def load_folder(folder: str | Path) -> list[MeshObject]:
    """Every ``*.glb`` in ``folder`` (sorted by name); ValueError when there is none or one is unreadable."""
    paths = sorted(Path(folder).glob("*.glb"))
    if not paths:
        raise ValueError(f"no .glb files in {folder}")
    return [MeshObject.from_glb(path) for path in paths]
