"""Family resemblance, diversity and continuity of a generator's meshes, in the family's frame (voxel IoU on one grid)."""

from __future__ import annotations

import numpy as np

from backend.core.mesh_ops import winding_number

GRID = 24
"""Voxels per axis of the IoU grid."""


def occupancy_grid(positions: np.ndarray, faces: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(GRID³,) bool: voxel centres inside the closed mesh."""
    axes = [np.linspace(lo[i], hi[i], GRID, endpoint=False) + (hi[i] - lo[i]) / (2 * GRID) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return winding_number(points, positions, faces) > 0.5


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def nearest_member_iou(samples: list[np.ndarray], members: list[np.ndarray]) -> list[float]:
    """Each sample's IoU with the family member it resembles most."""
    return [max(iou(s, m) for m in members) for s in samples]


def mean_pairwise_iou(samples: list[np.ndarray]) -> float:
    """Mean IoU over pairs of samples (1: all alike)."""
    pairs = [iou(samples[i], samples[j]) for i in range(len(samples)) for j in range(i + 1, len(samples))]
    return float(np.mean(pairs))
