"""Small meshes with known answers for the evaluation tests."""

from __future__ import annotations

import numpy as np
import trimesh


def box(lo=(0.0, 0.0, 0.0), hi=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (8, 3), faces (12, 3))`` of an axis-aligned box, outward-facing."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    mesh = trimesh.creation.box(extents=hi - lo)
    return np.asarray(mesh.vertices) + (lo + hi) / 2, np.asarray(mesh.faces)


def sphere(radius: float = 0.5, centre=(0.0, 0.0, 0.0), subdivisions: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """An icosphere."""
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(mesh.vertices) + np.asarray(centre, float), np.asarray(mesh.faces)
