"""Family resemblance and diversity of a generator's meshes, in the family's frame (voxel IoU on one shared grid).

CAD has no ground truth for one sample; what can be measured is whether each sample looks like *some* member of the
family (its IoU with the nearest member) and whether the samples differ from each other (mean pairwise 1 − IoU; the
family's own members give the value to compare with).
"""

from __future__ import annotations

import numpy as np

from .occupancy import inside_grid

GRID = 24
"""Default voxels per axis of the IoU grid."""


def occupancy_grid(positions: np.ndarray, faces: np.ndarray, lo: np.ndarray, hi: np.ndarray, resolution: int = GRID) -> np.ndarray:
    """(resolution³,) bool: the voxel centres of the box [lo, hi] inside the closed mesh ``positions`` (V, 3) / ``faces`` (F, 3)."""
    return inside_grid(positions, faces, lo, hi, resolution).reshape(-1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / |a ∪ b| of two boolean grids of one shape (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def nearest_member_iou(samples: list[np.ndarray], members: list[np.ndarray]) -> list[float]:
    """Each sample's IoU with the family member it resembles most."""
    return [max(iou(s, m) for m in members) for s in samples]


def mean_pairwise_iou(samples: list[np.ndarray]) -> float:
    """Mean IoU over pairs of samples (1: all alike); ValueError for fewer than two."""
    if len(samples) < 2:
        raise ValueError("pairwise IoU needs at least two samples")
    pairs = [iou(samples[i], samples[j]) for i in range(len(samples)) for j in range(i + 1, len(samples))]
    return float(np.mean(pairs))


def diversity(samples: list[np.ndarray]) -> float:
    """Mean pairwise 1 − IoU (0: all alike, 1: no two overlap)."""
    return 1.0 - mean_pairwise_iou(samples)
