"""Cameras of the evaluations: a turntable orbit (CAD's 120-frame 360° trajectory) and DTC123's novel views.

Poses follow :mod:`backend.core.cameras`: elevation and azimuth in degrees, azimuth 0 on +Z, cameras on a sphere
looking at the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.cameras import spherical_to_c2w
from .defaults import FRAMES



@dataclass(frozen=True)
class Orbit:
    """Cameras evenly spaced in azimuth around the origin at one elevation and distance."""

    frames: int = FRAMES
    """Number of cameras (≥ 1)."""
    elevation_deg: float = 0.0
    """Elevation of every camera, degrees."""
    radius: float = 2.0
    """Distance of every camera from the origin."""
    fov_deg: float = 49.1
    """Vertical field of view, degrees."""
    start_azimuth_deg: float = 0.0
    """Azimuth of the first camera; the others follow every 360 / frames degrees."""

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"an orbit needs at least one frame, got {self.frames}")
        if self.radius <= 0:
            raise ValueError(f"the orbit's radius must be positive, got {self.radius}")

    def azimuths(self) -> torch.Tensor:
        """(frames,) azimuths in degrees: start, start + 360/frames, … (the full circle, the start not repeated)."""
        return self.start_azimuth_deg + torch.arange(self.frames, dtype=torch.float64) * (360.0 / self.frames)

    def poses(self) -> torch.Tensor:
        """(frames, 3) float32 (elevation°, azimuth°, radius)."""
        n = self.frames
        return torch.stack([torch.full((n,), float(self.elevation_deg), dtype=torch.float64), self.azimuths(),
                            torch.full((n,), float(self.radius), dtype=torch.float64)], dim=-1).float()  # fmt: skip

    def c2w(self) -> torch.Tensor:
        """(frames, 4, 4) camera-to-world matrices."""
        poses = self.poses()
        return spherical_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2])


def turntable(frames: int = FRAMES, elevation_deg: float = 0.0, radius: float = 2.0, fov_deg: float = 49.1, start_azimuth_deg: float = 0.0) -> Orbit:
    """The turntable orbit: ``frames`` cameras covering 360° from ``start_azimuth_deg``."""
    return Orbit(frames, elevation_deg, radius, fov_deg, start_azimuth_deg)


def novel_views(count: int, elevation_deg: float, radius: float, fov_deg: float, reference_azimuth_deg: float = 0.0) -> Orbit:
    """``count`` views around the object at the reference's elevation, half a step off the reference's azimuth
    (azimuths reference + 360·(k + ½)/count), so none of them is the reference view itself."""
    return Orbit(count, elevation_deg, radius, fov_deg, reference_azimuth_deg + 180.0 / count)
