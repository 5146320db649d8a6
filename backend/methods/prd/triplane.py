"""From decoded planes to fields: PRD's split into geometry and texture triplanes, their reorientation, and the MLPs.

The VAE decoder turns an object's six latent planes into six feature images (6, 2F, R, R). Geometry features are the
first F channels of planes 0–2 (xy, xz, yz geometry), texture features the last F channels of planes 3–5; the other
halves are unused (as in the reference). Before sampling each plane is reoriented (xy transposed, xz rotated 180°,
yz rotated −90°) and read at (x, y), (x, z), (z, y) — bilinear, zeros outside, align_corners False — over the box
[−box, box]³. Geometry features are summed over the planes (F), texture features concatenated (3F, plane-major).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ...core.triplane import sample_triplane

PRD_AXES = ((0, 1), (0, 2), (2, 1))
"""Coordinates (width, height) each reoriented plane is read at: xy at (x, y), xz at (x, z), yz at (z, y)."""
COLOR_MARGIN = 0.001
"""Colours are sigmoid·(1 + 2m) − m (mip-NeRF's widened sigmoid), so 0 and 1 are reachable."""


@dataclass
class Triplanes:
    """An object's triplanes, reoriented for sampling."""

    geometry: torch.Tensor
    """(B, 3, F, R, R) geometry planes xy, xz, yz."""
    texture: torch.Tensor
    """(B, 3, F, R, R) texture planes xy, xz, yz."""


def split_planes(decoded: torch.Tensor, feature_channels: int) -> Triplanes:
    """Decoded planes (B·6, 2F, R, R), six rows per object, → reoriented :class:`Triplanes`."""
    rows, channels, height, width = decoded.shape
    if rows % 6 or channels != 2 * feature_channels:
        raise ValueError(f"decoded planes must be (B·6, {2 * feature_channels}, R, R), got {tuple(decoded.shape)}")
    planes = decoded.view(rows // 6, 6, channels, height, width)
    return Triplanes(reorient(planes[:, :3, :feature_channels]), reorient(planes[:, 3:, feature_channels:]))


def reorient(planes: torch.Tensor) -> torch.Tensor:
    """(B, 3, C, R, R) planes xy, xz, yz → xy transposed, xz rotated by 180°, yz by −90° (in the image dimensions)."""
    xy, xz, yz = planes.unbind(1)
    return torch.stack([xy.transpose(-1, -2), torch.rot90(xz, 2, (-2, -1)), torch.rot90(yz, -1, (-2, -1))], 1)


class MLP(nn.Module):
    """Linear–ReLU–Linear–ReLU–Linear without biases (parameters ``layers.{0,2,4}.weight``): (..., in) → (..., out)."""

    def __init__(self, inputs: int, hidden: int, outputs: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(inputs, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, hidden, bias=False), nn.ReLU(), nn.Linear(hidden, outputs, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class TriplaneHead(nn.Module):
    """The SDF, deformation and colour MLPs over :class:`Triplanes` (trainable; PRD: hidden 64, no biases)."""

    def __init__(self, feature_channels: int, hidden: int, sphere_radius: float, box: float) -> None:
        super().__init__()
        self.sdf_network = MLP(feature_channels, hidden, 1)
        self.deformation_network = MLP(feature_channels, hidden, 3)
        self.feature_network = MLP(3 * feature_channels, hidden, 3)
        self.sphere_radius = sphere_radius
        self.box = box

    def _sample(self, planes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return sample_triplane(planes, points, (-self.box, self.box), PRD_AXES)  # (B, N, 3, F)

    def geometry(self, triplanes: Triplanes, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(sdf (B, N), deformation (B, N, 3))`` at ``points`` (B, N, 3): the SDF is the MLP's plus the sphere bias
        |p| − radius (positive outside); the deformation is raw (in marching-cubes grid cells, as the reference feeds it)."""
        features = self._sample(triplanes.geometry, points).sum(2)
        return self._sdf(features, points), self.deformation_network(features)

    def sdf(self, triplanes: Triplanes, points: torch.Tensor) -> torch.Tensor:
        """SDF (B, N) at ``points`` (B, N, 3)."""
        return self._sdf(self._sample(triplanes.geometry, points).sum(2), points)

    def _sdf(self, features: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return self.sdf_network(features)[..., 0] + (points.norm(dim=-1) - self.sphere_radius)

    def color(self, triplanes: Triplanes, points: torch.Tensor) -> torch.Tensor:
        """RGB (B, N, 3) in [0, 1] at ``points`` (B, N, 3)."""
        features = self._sample(triplanes.texture, points).flatten(2)
        return torch.sigmoid(self.feature_network(features)) * (1 + 2 * COLOR_MARGIN) - COLOR_MARGIN
