"""From fields to a mesh asset: iso-surface, cleanup, decimation, UVs, texture bake (or vertex colours)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from protocol.schema import Record, param

from . import mesh_ops
from .bake import ColorField, bake
from .glb import MeshAsset
from .isosurface import ScalarField, marching_cubes, sample_grid
from .uv import UnwrapOptions, unwrap


@dataclass(frozen=True)
class ExportConfig(Record):
    resolution: int = param(128, doc="Marching-cubes grid resolution per axis.", ge=8, le=1024)
    level: float = param(0.0, doc="Iso-level of the geometry field.")
    inside: str = param("negative", doc="Which side of the level is the object: 'negative' (SDF) or 'positive' (density).", choices=("negative", "positive"))
    min_component_fraction: float = param(0.01, doc="Components with less of the surface area are removed as floaters.", ge=0.0, le=1.0)
    target_faces: int = param(20_000, doc="Decimate to this many faces when above it (0: never).", ge=0)
    unwrap: UnwrapOptions = param(factory=UnwrapOptions, doc="UV atlas: size, chart cap, padding.")
    bake_padding: int = param(4, doc="Texels the baked colour is grown past chart edges, against seams.", ge=0, le=64)
    image_format: str = param("PNG", doc="Texture encoding inside the GLB.", choices=("PNG", "JPEG"))


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
