"""DTC123's reference-view and regularisation losses, as pure functions."""

from __future__ import annotations

from typing import Callable

import torch


def pearson_depth_loss(depth: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 − Pearson correlation of rendered and reference depth (H, W) over ``mask`` (H, W) bool (scale- and shift-free)."""
    a, b = depth[mask], reference[mask]
    if a.numel() < 2:
        return depth.sum() * 0.0
    a, b = a - a.mean(), b - b.mean()
    return 1.0 - (a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-8)


def normal_consistency(
    normals: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, weights: torch.Tensor, beta: float, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Paper Eq. 10: E_a[‖n(a) − n(a + β·N(0, I))‖₁], the mean L1 difference of the normals at points ``a`` (M, 3) and at
    their β-perturbations, weighted by ``weights`` (M,) (0 when there are no points or no weight).

    ``normals`` maps points (K, 3) to unit normals (K, 3); it is called once, on both sets. The points and the noise
    carry no gradient: the loss moves the field the normals come from.
    """
    if points.shape[0] == 0:
        return points.sum() * 0.0
    points = points.detach()
    device = generator.device if generator is not None else points.device
    noise = torch.randn(points.shape, generator=generator, device=device, dtype=points.dtype).to(points.device)
    both = normals(torch.cat([points, points + beta * noise]))
    here, perturbed = both.chunk(2)
    weights = weights.detach()
    return (weights * (here - perturbed).abs().sum(dim=-1)).sum() / weights.sum().clamp_min(1e-8)


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
