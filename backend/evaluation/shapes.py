"""Shape metrics of a mesh against the ground truth: Chamfer distance and F-score on surface samples, volume IoU.

Distances are divided by the length of the ground truth's bounding-box diagonal, so the numbers do not depend on the
object's scale or the frame it is measured in; the F-score's threshold τ is a fraction of that diagonal too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from ..core.metrics import chamfer_distance, surface_samples
from .defaults import IOU_RESOLUTION, SURFACE_SAMPLES, TAU
from .family import iou
from .occupancy import inside_grid

SAMPLES = SURFACE_SAMPLES
IOU_PADDING = 0.02
"""The IoU grid's box is both meshes' joint bounding box grown by this fraction of its largest side on every face."""


@dataclass(frozen=True)
class ShapeScores:
    """A mesh against the ground truth."""

    chamfer: float
    """Symmetric Chamfer distance (mean of the two mean nearest-neighbour distances) / the truth's diagonal; 0 is identical."""
    iou: float
    """Volume IoU of the two meshes' interiors on the grid; 1 is identical, 0 disjoint."""
    fscore: float
    """Harmonic mean of precision and recall at τ; 1 is identical."""
    precision: float
    """Share of the mesh's surface samples within τ of the truth's surface."""
    recall: float
    """Share of the truth's surface samples within τ of the mesh's surface."""
    tau: float
    """The F-score's threshold, as a fraction of the truth's diagonal."""


def diagonal(vertices: np.ndarray) -> float:
    """Length of the bounding-box diagonal of ``vertices`` (V, 3); ValueError when it is 0."""
    vertices = np.asarray(vertices, np.float64)
    length = float(np.linalg.norm(vertices.max(axis=0) - vertices.min(axis=0))) if len(vertices) else 0.0
    if length <= 0:
        raise ValueError("the ground truth has no extent")
    return length


def fscore(points: np.ndarray, truth: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """``(F, precision, recall)`` of surface samples ``points`` (N, 3) against ``truth`` (M, 3) at distance ``threshold``
    (in the points' units)."""
    precision = float((cKDTree(truth).query(points)[0] <= threshold).mean())
    recall = float((cKDTree(points).query(truth)[0] <= threshold).mean())
    return (2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0), precision, recall


def iou_box(*meshes: np.ndarray, padding: float = IOU_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """``(lo (3,), hi (3,))``: the joint bounding box of the vertex arrays ``meshes`` (V, 3), grown by ``padding`` × its largest side."""
    points = np.concatenate([np.asarray(m, np.float64) for m in meshes])
    lo, hi = points.min(axis=0), points.max(axis=0)
    margin = padding * float((hi - lo).max())
    return lo - margin, hi + margin


def mesh_iou(vertices: np.ndarray, faces: np.ndarray, truth_vertices: np.ndarray, truth_faces: np.ndarray, resolution: int = IOU_RESOLUTION) -> float:
    """Volume IoU of two closed meshes on a ``resolution``³ grid over their joint box (:func:`iou_box`)."""
    lo, hi = iou_box(vertices, truth_vertices)
    return iou(inside_grid(vertices, faces, lo, hi, resolution), inside_grid(truth_vertices, truth_faces, lo, hi, resolution))


def compare_shapes(
    vertices: np.ndarray, faces: np.ndarray, truth_vertices: np.ndarray, truth_faces: np.ndarray, *,
    tau: float = TAU, samples: int = SAMPLES, resolution: int = IOU_RESOLUTION, seed: int = 0,
) -> ShapeScores:  # fmt: skip
    """The mesh ``vertices`` (V, 3) / ``faces`` (F, 3) against the truth (V', 3) / (F', 3), both in one frame."""
    if tau <= 0:
        raise ValueError(f"the F-score threshold τ must be positive, got {tau}")
    if len(faces) == 0 or len(truth_faces) == 0:
        raise ValueError("both meshes need at least one face")
    length = diagonal(truth_vertices)
    points = surface_samples(vertices, faces, samples, seed)
    truth_points = surface_samples(truth_vertices, truth_faces, samples, seed)  # one seed: a mesh against itself scores exactly 0 / 1
    f, precision, recall = fscore(points, truth_points, tau * length)
    return ShapeScores(
        chamfer=chamfer_distance(points, truth_points) / length,
        iou=mesh_iou(vertices, faces, truth_vertices, truth_faces, resolution),
        fscore=f, precision=precision, recall=recall, tau=tau,
    )  # fmt: skip
