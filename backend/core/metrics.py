"""Shape metrics against a ground truth: Chamfer distance on surface samples, volume IoU by occupancy."""

from __future__ import annotations

from typing import Callable

import numpy as np
import trimesh
from scipy.spatial import cKDTree

Occupancy = Callable[[np.ndarray], np.ndarray]
"""Points (N, 3) → (N,) bool inside."""


def surface_samples(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """(count, 3) points uniform by area on a triangle mesh."""
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points)


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean nearest-neighbour distance between point sets a (N, 3) and b (M, 3): (mean d(a→b) + mean d(b→a)) / 2."""
    return float((cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2)


def volume_iou(inside_a: Occupancy, inside_b: Occupancy, lo: np.ndarray, hi: np.ndarray, resolution: int = 64) -> float:
    """|A ∩ B| / |A ∪ B| on a ``resolution``³ grid of cell centres over the box [lo, hi]."""
    axes = [lo[i] + (np.arange(resolution) + 0.5) * (hi[i] - lo[i]) / resolution for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    a, b = inside_a(points), inside_b(points)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0
