"""DTC123's reference-view and regularisation losses, as pure functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pearson_depth_loss(depth: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 − Pearson correlation of rendered and reference depth (H, W) over ``mask`` (H, W) bool (scale- and shift-free)."""
    a, b = depth[mask], reference[mask]
    if a.numel() < 2:
        return depth.sum() * 0.0
    a, b = a - a.mean(), b - b.mean()
    return 1.0 - (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


def normals_from_depth(depth: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Unit normals (H−1, W−1, 3) by finite differences of the points depth·direction (depth (H, W), directions (H, W, 3))."""
    points = depth[..., None] * directions
    du = points[:-1, 1:] - points[:-1, :-1]
    dv = points[1:, :-1] - points[:-1, :-1]
    return F.normalize(torch.cross(dv, du, dim=-1), dim=-1, eps=1e-8)


def normal_smoothness(depth: torch.Tensor, directions: torch.Tensor, opacity: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring finite-difference normals, weighted by opacity (H, W)."""
    normals = normals_from_depth(depth, directions)
    weight = opacity[:-1, :-1].detach()
    horizontal = (normals[:, 1:] - normals[:, :-1]).square().sum(-1) * weight[:, 1:] * weight[:, :-1]
    vertical = (normals[1:] - normals[:-1]).square().sum(-1) * weight[1:] * weight[:-1]
    return (horizontal.sum() + vertical.sum()) / (weight.sum() * 2).clamp_min(1.0)
