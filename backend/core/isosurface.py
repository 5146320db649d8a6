"""Fields on grids, and their iso-surfaces by marching cubes (scikit-image)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from skimage import measure

ScalarField = Callable[[torch.Tensor], torch.Tensor]
"""points (N, 3) → values (N,)"""


def sample_grid(field: ScalarField, resolution: int, box: tuple[float, float], chunk: int = 1 << 18, device: str | torch.device = "cpu") -> np.ndarray:
    """Values (R, R, R) of ``field`` at the R³ grid points spanning [lo, hi]³ (index order x, y, z)."""
    lo, hi = box
    axis = torch.linspace(lo, hi, resolution, device=device)
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    points = torch.stack([x, y, z], dim=-1).reshape(-1, 3)
    with torch.no_grad():
        values = torch.cat([field(points[i : i + chunk]).float().reshape(-1) for i in range(0, points.shape[0], chunk)])
    return values.reshape(resolution, resolution, resolution).cpu().numpy()


def marching_cubes(values: np.ndarray, box: tuple[float, float], level: float = 0.0, inside: str = "negative") -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V, 3) float32, faces (F, 3) int32)`` of the ``level`` set of grid ``values`` spanning [lo, hi]³.

    ``inside`` says which side is the object: ``"negative"`` for SDFs, ``"positive"`` for densities;
    faces wind counter-clockwise seen from outside. An empty surface gives empty arrays.
    """
    lo, hi = box
    if not (values.min() < level < values.max()):
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    spacing = (hi - lo) / (values.shape[0] - 1)
    vertices, faces, _, _ = measure.marching_cubes(
        values, level, spacing=(spacing,) * 3, gradient_direction="descent" if inside == "negative" else "ascent"
    )
    return (vertices + lo).astype(np.float32), faces.astype(np.int32)
