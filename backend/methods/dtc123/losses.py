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


def laplacian_smoothness(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 11: mean over vertices of ‖L·V‖₂ with the uniform Laplacian of ``faces`` (F, 3) over ``vertices`` (V, 3).

    L has each vertex's degree on the diagonal and −1 per neighbour (every face edge, counted once per direction).
    """
    edges = torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]).long()
    edges = torch.unique(torch.sort(edges, dim=1).values, dim=0)
    both = torch.cat([edges, edges.flip(1)])  # (2E, 2): (i, j) and (j, i)
    degree = torch.zeros(len(vertices), device=vertices.device, dtype=vertices.dtype).index_add_(0, both[:, 0], torch.ones_like(both[:, 0], dtype=vertices.dtype))
    neighbours = torch.zeros_like(vertices).index_add(0, both[:, 0], vertices[both[:, 1]])
    used = degree > 0
    return (degree[:, None] * vertices - neighbours)[used].norm(dim=-1).mean()
