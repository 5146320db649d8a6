"""A PRD object's mesh: the SDF and deformation on a grid, differentiable marching cubes, then our export.

The reference meshes its triplanes with ``diso``'s DiffMC at isovalue 0 over [−1, 1]³ (128³ in training, 160³ in its
demo), the deformation MLP moving each grid point by up to a few cells, and falls back to the sphere |p| − 1 when the
SDF has no sign change; it exports vertex colours. Here the same surface becomes a vertex-coloured preview or, at full
quality, a cleaned, decimated, UV-unwrapped mesh with the colour MLP baked into a texture.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ...core import diffmc, mesh_ops
from ...core.export import ExportConfig, Timings, textured_asset, vertex_colored_asset
from ...core.glb import MeshAsset
from ...core.uv import UnwrapOptions
from .triplane import TriplaneHead, Triplanes

GRID_CHUNK = 1 << 18
"""Grid points per MLP call when sampling the SDF grid."""


def grid_points(resolution: int, box: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """(R, R, R, 3) points spanning [−box, box]³, indexed (x, y, z)."""
    axis = torch.linspace(-box, box, resolution, device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)


def sdf_grid(head: TriplaneHead, triplanes: Triplanes, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sdf (R, R, R), deformation (R, R, R, 3))`` of one object's triplanes (batch of 1) on the R³ grid; the sphere
    |p| − 1 replaces an SDF with no sign change (as the reference does)."""
    points = grid_points(resolution, head.box, triplanes.geometry.device).reshape(1, -1, 3)
    parts = [head.geometry(triplanes, points[:, i : i + GRID_CHUNK]) for i in range(0, points.shape[1], GRID_CHUNK)]
    sdf = torch.cat([p[0] for p in parts], 1).reshape((resolution,) * 3)
    deformation = torch.cat([p[1] for p in parts], 1).reshape((resolution,) * 3 + (3,))
    if not float(sdf.detach().min()) < 0.0 < float(sdf.detach().max()):
        sdf = points.reshape((resolution,) * 3 + (3,)).norm(dim=-1) - 1.0
    return sdf, deformation


def surface(head: TriplaneHead, triplanes: Triplanes, resolution: int, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """``(vertices (V, 3), faces (F, 3))`` of one object, differentiable in the SDF and the deformation."""
    sdf, deformation = sdf_grid(head, triplanes, resolution)
    return diffmc.marching_cubes(sdf, deformation, (-head.box, head.box), 0.0, backend)


def color_field(head: TriplaneHead, triplanes: Triplanes):
    """points (N, 3) → RGB (N, 3) on the CPU, of one object (what the export's bake and vertex colours query)."""

    def color(points: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            device = triplanes.texture.device
            return torch.cat([head.color(triplanes, points[i : i + GRID_CHUNK].to(device, torch.float32)[None])[0]
                              for i in range(0, len(points), GRID_CHUNK)]).cpu()  # fmt: skip

    return color


def to_asset(
    head: TriplaneHead, triplanes: Triplanes, quality: str, resolution: int, texture_size: int, target_faces: int,
    rotation: np.ndarray | None = None, timings: Timings | None = None,
) -> MeshAsset:  # fmt: skip
    """One object's mesh at ``quality`` ('preview': vertex colours; 'full': textured, decimated to ``target_faces``),
    positions turned by ``rotation`` (3, 3) when given (a checkpoint trained Z-up, shown Y-up). ValueError when empty."""
    timings = timings if timings is not None else Timings()
    started = time.perf_counter()
    with torch.no_grad():
        vertices, faces = surface(head, triplanes, resolution)
    vertices, faces = vertices.cpu().numpy().astype(np.float32), faces.cpu().numpy().astype(np.int32)
    started = timings.time("marching_cubes", started)
    if len(faces) == 0:
        raise ValueError("the surface is empty")
    vertices, faces = mesh_ops.clean(vertices, faces)
    color = color_field(head, triplanes)
    if quality == "preview":
        asset = vertex_colored_asset(vertices, faces, color)
        timings.time("export", started)
    else:
        if target_faces and len(faces) > target_faces:
            vertices, faces = mesh_ops.decimate(vertices, faces, target_faces)
        started = timings.time("cleanup", started)
        asset = textured_asset(vertices, faces, color, ExportConfig(unwrap=UnwrapOptions(texture_size=texture_size)), timings)
    if rotation is not None:
        asset.positions = (asset.positions @ rotation.T).astype(np.float32)
        asset.normals = (asset.normals @ rotation.T).astype(np.float32)
    return asset
