"""Procedural textured objects: primitives with colours and patterns, composed into scenes.

A :class:`Part` is a unit primitive (each fits [-1, 1]³ in its *local* frame, axis
of symmetry +Y) scaled per axis by ``size``, turned by ``yaw_deg`` about +Y and moved
to ``center`` (world frame of :mod:`backend.core.cameras`: +Y up, front +Z).
Patterns are evaluated in the local frame, so stripes and checks stick to the part.
Signed distances are exact for the unit primitives and scaled conservatively (by the
smallest size) for stretched parts: their sign, hence occupancy, is exact.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import torch

Color = tuple[float, float, float]

COLORS: dict[str, Color] = {
    "red": (0.85, 0.15, 0.12),
    "orange": (0.95, 0.55, 0.10),
    "yellow": (0.95, 0.85, 0.15),
    "green": (0.20, 0.70, 0.25),
    "cyan": (0.15, 0.75, 0.80),
    "blue": (0.15, 0.30, 0.85),
    "purple": (0.55, 0.25, 0.75),
    "pink": (0.95, 0.55, 0.70),
    "brown": (0.50, 0.32, 0.18),
    "white": (0.95, 0.95, 0.95),
    "grey": (0.50, 0.50, 0.50),
    "black": (0.08, 0.08, 0.08),
}
"""Named colours (linear RGB in [0, 1]) shared by the families and the prompt grammar."""


class Primitive(str, enum.Enum):
    SPHERE = "sphere"
    CUBE = "cube"
    TORUS = "torus"
    CYLINDER = "cylinder"
    CONE = "cone"


class Pattern(str, enum.Enum):
    SOLID = "solid"
    STRIPES = "stripes"
    """Horizontal bands along the local +Y axis."""
    CHECKS = "checks"
    """A 3D checkerboard in the local frame."""


TORUS_MAJOR, TORUS_MINOR = 0.7, 0.3
"""Unit torus radii (ring in the local XZ-plane)."""


@dataclass(frozen=True)
class Part:
    """One primitive of a scene."""

    shape: Primitive
    """Which unit primitive."""
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """World position of the local origin."""
    size: tuple[float, float, float] = (0.5, 0.5, 0.5)
    """Per-axis scale of the unit primitive (half extents)."""
    yaw_deg: float = 0.0
    """Rotation about +Y."""
    color: Color = COLORS["grey"]
    """Base colour."""
    pattern: Pattern = Pattern.SOLID
    """How ``color`` and ``color2`` are laid out on the surface."""
    color2: Color = COLORS["white"]
    """Second colour of stripes and checks."""
    frequency: float = 2.0
    """Pattern cells per local unit."""

    def to_local(self, points: torch.Tensor) -> torch.Tensor:
        """World points (N, 3) → local coordinates (N, 3) of the unit primitive."""
        c, s = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
        p = points - torch.tensor(self.center, dtype=points.dtype, device=points.device)
        # inverse yaw: R_y(−yaw)
        x, z = c * p[:, 0] - s * p[:, 2], s * p[:, 0] + c * p[:, 2]
        return torch.stack([x, p[:, 1], z], dim=-1) / torch.tensor(self.size, dtype=points.dtype, device=points.device)

    def to_world(self, local: np.ndarray) -> np.ndarray:
        """Local points (N, 3) → world points (N, 3)."""
        c, s = math.cos(math.radians(self.yaw_deg)), math.sin(math.radians(self.yaw_deg))
        p = local * np.asarray(self.size)
        x, z = c * p[:, 0] + s * p[:, 2], -s * p[:, 0] + c * p[:, 2]
        return np.stack([x, p[:, 1], z], axis=-1) + np.asarray(self.center)

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (N,) at world points (N, 3), negative inside."""
        return unit_sdf(self.shape, self.to_local(points)) * min(self.size)

    def albedo(self, local: torch.Tensor) -> torch.Tensor:
        """Colour (N, 3) at local coordinates (N, 3)."""
        base = torch.tensor(self.color, dtype=local.dtype, device=local.device).expand(local.shape[0], 3)
        if self.pattern is Pattern.SOLID:
            return base
        # clamped inside the unit box so faces lying exactly on ±1 (the cube's) do not flicker between cells
        cells = torch.floor((local.clamp(-1.0 + 1e-4, 1.0 - 1e-4) + 1.0) * self.frequency)
        parity = cells[:, 1] if self.pattern is Pattern.STRIPES else cells.sum(dim=-1)
        second = torch.remainder(parity, 2.0) > 0.5
        return torch.where(second[:, None], torch.tensor(self.color2, dtype=local.dtype, device=local.device), base)


@dataclass(frozen=True)
class Scene:
    """A composition of parts: the union of their volumes."""

    parts: tuple[Part, ...]
    """At least one part; overlapping parts merge."""
    name: str = field(default="scene", compare=False)
    """A label for people (family name, prompt)."""

    def __post_init__(self) -> None:
        if not self.parts:
            raise ValueError("a scene needs at least one part")

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """(N,) union signed distance at world points (N, 3)."""
        return torch.stack([part.sdf(points) for part in self.parts]).amin(dim=0)

    def occupancy(self, points: torch.Tensor) -> torch.Tensor:
        """(N,) bool: inside any part."""
        return self.sdf(points) < 0

    def albedo(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) colour of the nearest part's surface pattern at world points (N, 3) (for baking textures)."""
        distances = torch.stack([part.sdf(points) for part in self.parts])
        nearest = distances.argmin(dim=0)
        out = points.new_zeros(points.shape[0], 3)
        for index, part in enumerate(self.parts):
            chosen = nearest == index
            if chosen.any():
                out[chosen] = part.albedo(part.to_local(points[chosen]))
        return out

    def centered(self) -> "Scene":
        """The same scene moved so its bounding box is centred on the origin."""
        lo, hi = self.bounds()
        shift = -(lo + hi) / 2
        parts = tuple(replace(p, center=tuple(float(c + d) for c, d in zip(p.center, shift))) for p in self.parts)
        return Scene(parts, name=self.name)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned (lo (3,), hi (3,)) of the tessellated parts."""
        points = np.concatenate([part.to_world(unit_mesh(part.shape)[0]) for part in self.parts])
        return points.min(axis=0), points.max(axis=0)


def unit_sdf(shape: Primitive, p: torch.Tensor) -> torch.Tensor:
    """Signed distance (N,) of the unit primitive at local points (N, 3) (exact except the cone's caps)."""
    if shape is Primitive.SPHERE:
        return p.norm(dim=-1) - 1.0
    if shape is Primitive.CUBE:
        q = p.abs() - 1.0
        return q.clamp_min(0).norm(dim=-1) + q.amax(dim=-1).clamp_max(0)
    radial = p[:, [0, 2]].norm(dim=-1)
    if shape is Primitive.TORUS:
        return torch.stack([radial - TORUS_MAJOR, p[:, 1]], dim=-1).norm(dim=-1) - TORUS_MINOR
    if shape is Primitive.CYLINDER:
        q = torch.stack([radial - 1.0, p[:, 1].abs() - 1.0], dim=-1)
        return q.clamp_min(0).norm(dim=-1) + q.amax(dim=-1).clamp_max(0)
    if shape is Primitive.CONE:  # apex (0, 1, 0), base radius 1 at y = −1
        return torch.maximum(-1.0 - p[:, 1], (2.0 * radial + p[:, 1] - 1.0) / math.sqrt(5.0))
    raise ValueError(f"unknown primitive {shape!r}")


_Y_UP = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, -1.0, 0, 0], [0, 0, 0, 1.0]])
"""Rotates trimesh's +Z-axis primitives to +Y: (x, y, z) ↦ (x, z, −y)."""


@lru_cache(maxsize=None)
def unit_mesh(shape: Primitive) -> tuple[np.ndarray, np.ndarray]:
    """Tessellation (vertices (V, 3) float32, faces (F, 3) int64) of a unit primitive, outward counter-clockwise faces."""
    import trimesh

    if shape is Primitive.SPHERE:
        mesh = trimesh.creation.icosphere(subdivisions=3)
    elif shape is Primitive.CUBE:
        mesh = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    elif shape is Primitive.TORUS:
        mesh = trimesh.creation.torus(TORUS_MAJOR, TORUS_MINOR, major_sections=48, minor_sections=24, transform=_Y_UP)
    elif shape is Primitive.CYLINDER:
        mesh = trimesh.creation.cylinder(radius=1.0, height=2.0, sections=48, transform=_Y_UP)
    elif shape is Primitive.CONE:
        shift = np.eye(4)
        shift[2, 3] = -1.0
        mesh = trimesh.creation.cone(radius=1.0, height=2.0, sections=48, transform=_Y_UP @ shift)
    else:
        raise ValueError(f"unknown primitive {shape!r}")
    return np.asarray(mesh.vertices, dtype=np.float32), np.asarray(mesh.faces, dtype=np.int64)
