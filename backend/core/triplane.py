"""EG3D-style triplanes: three axis-aligned feature planes and a small decoder.

A triplane tensor has shape (B, 3, C, R, R): plane 0 spans (x, y), plane 1
(x, z), plane 2 (y, z); within a plane the first named axis runs along the
width (last dimension). Points are mapped from the box ``[lo, hi]³`` onto
[−1, 1] and sampled bilinearly; outside the box the features are zero.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

PLANE_AXES = ((0, 1), (0, 2), (1, 2))
"""Coordinate pairs (width, height) sampling the three planes: xy, xz, yz (EG3D, CAD)."""
Axes = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def normalise_to_box(points: torch.Tensor, box: tuple[float, float]) -> torch.Tensor:
    """Points (..., 3) in the box ``[lo, hi]³`` mapped to [−1, 1]³."""
    lo, hi = box
    return (points - lo) * (2.0 / (hi - lo)) - 1.0


def sample_triplane(planes: torch.Tensor, points: torch.Tensor, box: tuple[float, float] = (-0.7, 0.7), axes: Axes = PLANE_AXES) -> torch.Tensor:
    """Features (B, N, 3, C) of ``planes`` (B, 3, C, R, R) at ``points`` (B, N, 3); plane i is read at the coordinates
    ``axes[i]`` (width, height)."""
    return _sample_planes(planes, points, box, axes).permute(0, 3, 1, 2)


def triplane_features(
    planes: torch.Tensor, points: torch.Tensor, box: tuple[float, float] = (-0.7, 0.7), mode: str = "sum", axes: Axes = PLANE_AXES
) -> torch.Tensor:
    """Aggregated features at ``points`` (B, N, 3): (B, N, C) summed or (B, N, 3C) concatenated (see :func:`aggregate`)."""
    sampled = _sample_planes(planes, points, box, axes)  # (B, 3, C, N)
    if mode == "sum":
        return sampled.sum(dim=1).transpose(1, 2)  # reduce while contiguous
    return aggregate(sampled.permute(0, 3, 1, 2), mode)


def _sample_planes(planes: torch.Tensor, points: torch.Tensor, box: tuple[float, float], axes: Axes = PLANE_AXES) -> torch.Tensor:
    """Bilinear samples (B, 3, C, N)."""
    batch, _, channels, _, _ = planes.shape
    coords = normalise_to_box(points, box)
    grids = torch.stack([coords[..., list(pair)] for pair in axes], dim=1)  # (B, 3, N, 2)
    sampled = F.grid_sample(
        planes.reshape(batch * 3, channels, *planes.shape[-2:]),
        grids.reshape(batch * 3, 1, -1, 2),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )  # (B*3, C, 1, N)
    return sampled.reshape(batch, 3, channels, -1)


def aggregate(features: torch.Tensor, mode: str = "sum") -> torch.Tensor:
    """(B, N, 3, C) → (B, N, C) by summing (EG3D, CAD) or (B, N, 3C) by concatenating."""
    if mode == "sum":
        return features.sum(dim=2)
    if mode == "concat":
        return features.flatten(2)
    raise ValueError(f"aggregation must be 'sum' or 'concat', not {mode!r}")


class TriplaneDecoder(nn.Module):
    """EG3D's light MLP: aggregated features (..., C) → (rgb (..., 3) in [0, 1], raw density or SDF (...)).

    ``hidden`` units per layer, softplus activations; the colour goes through
    EG3D's widened sigmoid so that 0 and 1 are reachable.
    """

    def __init__(self, in_features: int, hidden: int = 64, layers: int = 1, rgb_channels: int = 3) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.Softplus()]
            width = hidden
        blocks.append(nn.Linear(width, 1 + rgb_channels))
        self.net = nn.Sequential(*blocks)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(features)
        rgb = torch.sigmoid(out[..., 1:]) * (1 + 2 * 0.001) - 0.001
        return rgb, out[..., 0]


def density_activation(raw: torch.Tensor, kind: str = "softplus") -> torch.Tensor:
    """Raw decoder output → non-negative density: ``softplus`` of (raw − 1) as in EG3D, or ``exp`` as in Instant-NGP."""
    if kind == "softplus":
        return F.softplus(raw - 1.0)
    if kind == "exp":
        return torch.exp(raw.clamp(max=15.0))
    raise ValueError(f"density activation must be 'softplus' or 'exp', not {kind!r}")
