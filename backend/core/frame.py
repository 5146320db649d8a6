"""The reconstruction frame and the object's: methods work with the object centred at the origin (DTC123 also
with the reference camera at azimuth 0); a synthetic target is brought into that frame and the result taken back."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

NORMALISED_RADIUS = 0.8
"""A synthetic target is scaled so its farthest vertex from its bounding-box centre is this far (inside the unit box at any rotation)."""


def rotation_y(azimuth_deg: float) -> np.ndarray:
    """(3, 3) rotation about +Y taking the azimuth-0 direction (+Z) to azimuth ``azimuth_deg`` (towards +X)."""
    a = math.radians(azimuth_deg)
    return np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])


@dataclass(frozen=True)
class Frame:
    """Object frame point p ↦ reconstruction frame point R_y(−azimuth)·(p − centre)·scale, and back."""

    centre: tuple[float, float, float]
    scale: float
    azimuth_deg: float

    @classmethod
    def normalising(cls, positions: np.ndarray, azimuth_deg: float, radius: float = NORMALISED_RADIUS) -> "Frame":
        """The frame that centres ``positions`` (V, 3) and scales them to ``radius``."""
        centre = (positions.min(axis=0) + positions.max(axis=0)) / 2
        extent = float(np.linalg.norm(positions - centre, axis=1).max())
        if extent <= 0:
            raise ValueError("the target has no extent")
        return cls(tuple(float(c) for c in centre), radius / extent, azimuth_deg)

    def to_reconstruction(self, positions: np.ndarray) -> np.ndarray:
        """(V, 3) object-frame points → reconstruction frame."""
        return ((positions - np.asarray(self.centre)) * self.scale) @ rotation_y(-self.azimuth_deg).T

    def to_object(self, positions: np.ndarray) -> np.ndarray:
        """(V, 3) reconstruction-frame points → object frame."""
        return (positions @ rotation_y(self.azimuth_deg).T) / self.scale + np.asarray(self.centre)

    def rotate_to_object(self, directions: np.ndarray) -> np.ndarray:
        """(V, 3) reconstruction-frame directions (normals) → object frame."""
        return directions @ rotation_y(self.azimuth_deg).T

    def tensor_to_reconstruction(self, positions: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.to_reconstruction(positions.double().numpy())).to(positions.dtype)
