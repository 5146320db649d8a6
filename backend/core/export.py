"""From fields to a mesh asset: iso-surface, cleanup, decimation, UVs, texture bake (or vertex colours)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import mesh_ops
from .bake import ColorField, bake
from .glb import MeshAsset
from .isosurface import ScalarField, marching_cubes, sample_grid
from .uv import UnwrapOptions, unwrap


@dataclass(frozen=True)
class ExportConfig:
    """How a field becomes a mesh asset."""

    resolution: int = 128
    """Marching-cubes grid resolution per axis (8…1024)."""
    level: float = 0.0
    """Iso-level of the geometry field."""
    inside: str = "negative"
    """Which side of the level is the object: 'negative' (SDF) or 'positive' (density)."""
    min_component_fraction: float = 0.01
    """Components with less of the surface area than this fraction are removed as floaters (0…1)."""
    target_faces: int = 20_000
    """Decimate to this many faces when above it (0: never)."""
    unwrap: UnwrapOptions = field(default_factory=UnwrapOptions)
    """UV atlas: size, chart cap, padding."""
    bake_padding: int = 4
    """Texels the baked colour is grown past chart edges, against seams (0…64)."""
    image_format: str = "PNG"
    """Texture encoding inside the GLB: 'PNG' or 'JPEG'."""

    def __post_init__(self) -> None:
        if not 8 <= self.resolution <= 1024 or self.inside not in ("negative", "positive") or self.image_format not in ("PNG", "JPEG"):
            raise ValueError(f"export: resolution 8…1024, inside 'negative'/'positive', image_format PNG/JPEG; got {self}")
        if not 0.0 <= self.min_component_fraction <= 1.0 or self.target_faces < 0 or not 0 <= self.bake_padding <= 64:
            raise ValueError(f"export: min_component_fraction 0…1, target_faces ≥ 0, bake_padding 0…64; got {self}")


@dataclass
class Timings:
    """Seconds spent per stage, in order."""

    stages: dict[str, float] = field(default_factory=dict)

    def time(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + now - started
        return now

    @property
    def total(self) -> float:
        return sum(self.stages.values())


def extract_surface(geometry: ScalarField, box: tuple[float, float], config: ExportConfig, timings: Timings | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices, faces)``: the cleaned (and possibly decimated) iso-surface of ``geometry`` inside [lo, hi]³."""
    timings = timings if timings is not None else Timings()
    started = time.perf_counter()
    values = sample_grid(geometry, config.resolution, box)
    started = timings.time("field", started)
    vertices, faces = marching_cubes(values, box, config.level, config.inside)
    started = timings.time("marching_cubes", started)
    vertices, faces = mesh_ops.clean(vertices, faces, config.min_component_fraction)
    started = timings.time("cleanup", started)
    if config.target_faces:
        vertices, faces = mesh_ops.decimate(vertices, faces, config.target_faces)
        timings.time("decimate", started)
    return vertices, faces


def textured_asset(
    vertices: np.ndarray, faces: np.ndarray, color: ColorField, config: ExportConfig, timings: Timings | None = None
) -> MeshAsset:
    """UV-unwrap a mesh and bake ``color`` into its texture."""
    timings = timings if timings is not None else Timings()
    if len(faces) == 0:
        raise ValueError("the surface is empty: nothing crosses the iso-level inside the box")
    started = time.perf_counter()
    normals = mesh_ops.area_weighted_normals(vertices, faces)
    started = timings.time("normals", started)
    unwrapped = unwrap(vertices, faces, config.unwrap)
    started = timings.time("uv_unwrap", started)
    positions = vertices[unwrapped.vertex_map]
    texture = bake(color, positions, unwrapped.faces, unwrapped.uvs, config.unwrap.texture_size, config.bake_padding)
    timings.time("bake", started)
    return MeshAsset(positions=positions, normals=normals[unwrapped.vertex_map], faces=unwrapped.faces, uvs=unwrapped.uvs, texture=texture)


def vertex_colored_asset(vertices: np.ndarray, faces: np.ndarray, color: ColorField) -> MeshAsset:
    """The preview path: colours queried at the vertices, no UVs, no texture."""
    with torch.no_grad():
        rgb = color(torch.from_numpy(vertices)).clamp(0, 1).numpy() if len(vertices) else np.zeros((0, 3), np.float32)
    colors = np.concatenate([(rgb * 255 + 0.5).astype(np.uint8), np.full((len(vertices), 1), 255, np.uint8)], axis=1)
    return MeshAsset(positions=vertices, normals=mesh_ops.area_weighted_normals(vertices, faces), faces=faces, colors=colors)


def export_textured(geometry: ScalarField, color: ColorField, box: tuple[float, float], config: ExportConfig = ExportConfig()) -> tuple[MeshAsset, bytes, Timings]:
    """The whole path: ``(asset, glb bytes, timings)``."""
    timings = Timings()
    vertices, faces = extract_surface(geometry, box, config, timings)
    asset = textured_asset(vertices, faces, color, config, timings)
    started = time.perf_counter()
    glb = asset.to_glb(config.image_format)
    timings.time("glb", started)
    return asset, glb, timings
