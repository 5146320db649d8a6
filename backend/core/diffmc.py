"""Differentiable marching cubes with a per-grid-point deformation (PRD's mesh path): ``diso`` on CUDA when importable,
plain PyTorch otherwise, one interface.

A surface vertex lies on a grid edge (a, b) whose SDF values straddle the level; it is the point a fraction
t = (s_a − level) / (s_a − s_b) of the way between the *deformed* grid points a + d_a and b + d_b (grid-cell units), so
its position is differentiable in the SDF values of both ends and in their deformations — what ``diso.DiffMC``
computes. The plain path takes the topology (which edges, which triangles) from scikit-image's marching cubes on the
detached grid and recomputes every vertex from its edge this way.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage import measure

NODE_TOLERANCE = 1e-6
"""A vertex whose every coordinate is this close to an integer sits on a grid point (its SDF there is the level)."""


def _diso():
    try:
        from diso import DiffMC
    except ImportError:
        return None
    return DiffMC


def backend_for(device: torch.device | str) -> str:
    """``diso`` for CUDA grids when the package imports, else ``torch``."""
    return "diso" if torch.device(device).type == "cuda" and _diso() is not None else "torch"


def _edge_vertices(sdf: torch.Tensor, deform: torch.Tensor | None, vertices: np.ndarray, level: float) -> torch.Tensor:
    """Vertices (V, 3) in grid units recomputed differentiably from the edges skimage found them on."""
    size = np.array(sdf.shape)
    fraction = np.abs(vertices - np.round(vertices))
    axis = fraction.argmax(1)
    a = np.round(vertices).astype(np.int64)
    a[np.arange(len(a)), axis] = np.floor(vertices[np.arange(len(a)), axis]).astype(np.int64)
    a = np.minimum(a, size - 1)
    b = a.copy()
    b[np.arange(len(b)), axis] += 1
    at_end = b[np.arange(len(b)), axis] >= size[axis]  # a vertex on the last node of its axis: use the edge before it
    a[at_end, axis[at_end]] -= 1
    b[at_end, axis[at_end]] -= 1
    ia, ib = (torch.as_tensor(x, device=sdf.device) for x in (a, b))
    s_a, s_b = sdf[ia[:, 0], ia[:, 1], ia[:, 2]], sdf[ib[:, 0], ib[:, 1], ib[:, 2]]
    denominator = s_a - s_b
    safe = torch.where(denominator.abs() > 1e-12, denominator, torch.ones_like(denominator))
    t = torch.where(denominator.abs() > 1e-12, (s_a - level) / safe, torch.zeros_like(s_a)).clamp(0, 1)[:, None]
    p_a, p_b = ia.to(sdf.dtype), ib.to(sdf.dtype)
    if deform is not None:
        p_a = p_a + deform[ia[:, 0], ia[:, 1], ia[:, 2]]
        p_b = p_b + deform[ib[:, 0], ib[:, 1], ib[:, 2]]
    return p_a + t * (p_b - p_a)


def marching_cubes_torch(sdf: torch.Tensor, deform: torch.Tensor | None, level: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(vertices (V, 3) in grid units, faces (F, 3) int64)`` of the ``level`` set of ``sdf`` (R, R, R) (negative inside)
    moved by ``deform`` (R, R, R, 3) grid cells; vertices are differentiable in both."""
    values = sdf.detach().float().cpu().numpy()
    vertices, faces, _, _ = measure.marching_cubes(values, level, gradient_direction="descent")
    faces_t = torch.as_tensor(faces.astype(np.int64), device=sdf.device)
    return _edge_vertices(sdf, deform, vertices.astype(np.float64), level), faces_t


def marching_cubes_diso(sdf: torch.Tensor, deform: torch.Tensor | None, level: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`marching_cubes_torch`'s contract through ``diso.DiffMC`` (CUDA)."""
    import inspect

    extractor = _diso()(dtype=sdf.dtype)
    if "normalize" in inspect.signature(extractor.forward).parameters:  # diso ≥ 0.1.4 scales to [0, 1] unless told not to
        vertices, faces = extractor(sdf, deform, isovalue=level, normalize=False)
    else:
        vertices, faces = extractor(sdf, deform, isovalue=level)
    return vertices, faces.long()


def outward(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """``faces`` wound so the mesh's signed volume is positive (normals point out of the object)."""
    if len(faces) == 0:
        return faces
    v = vertices.detach()
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    volume = (a * torch.cross(b, c, dim=1)).sum()
    return faces if volume >= 0 else faces[:, [0, 2, 1]]


def marching_cubes(
    sdf: torch.Tensor, deform: torch.Tensor | None, box: tuple[float, float], level: float = 0.0, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(vertices (V, 3) in the box, faces (F, 3) int64, outward)`` of the ``level`` set of ``sdf`` (R, R, R), indexed
    (x, y, z) over the grid spanning [lo, hi]³, negative inside; ``deform`` (R, R, R, 3) moves grid points, in grid cells.
    Empty arrays when nothing crosses the level. ``backend``: ``auto`` (:func:`backend_for`), ``torch`` or ``diso``."""
    lo, hi = box
    if not float(sdf.detach().min()) < level < float(sdf.detach().max()):
        return sdf.new_zeros((0, 3)), torch.zeros((0, 3), dtype=torch.long, device=sdf.device)
    backend = backend_for(sdf.device) if backend == "auto" else backend
    extract = marching_cubes_diso if backend == "diso" else marching_cubes_torch
    vertices, faces = extract(sdf, deform, level)
    vertices = lo + vertices * ((hi - lo) / (sdf.shape[0] - 1))
    return vertices, outward(vertices, faces)
