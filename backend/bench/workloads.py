"""Analytic fields standing in for a generated asset in the benchmarks (cheap to evaluate, so the numbers measure the pipeline)."""

from __future__ import annotations

import torch

BOX = (-0.7, 0.7)


def torus_and_sphere(points: torch.Tensor) -> torch.Tensor:
    """SDF (N,) of a torus (R 0.4, r 0.15, around Y) united with a sphere (r 0.25) sitting on it."""
    x, y, z = points.unbind(-1)
    torus = torch.sqrt((torch.sqrt(x**2 + z**2) - 0.4) ** 2 + y**2) - 0.15
    sphere = torch.sqrt(x**2 + (y - 0.3) ** 2 + z**2) - 0.25
    return torch.minimum(torus, sphere)


def stripes(points: torch.Tensor) -> torch.Tensor:
    """RGB (N, 3): red and white stripes along Y over a blue-to-green gradient along X."""
    x, y, _ = points.unbind(-1)
    stripe = (torch.sin(y * 40.0) > 0).float()
    base = torch.stack([0.2 + 0 * x, 0.5 + 0.5 * x, 0.8 - 0.5 * x], dim=-1)
    red = torch.tensor([0.9, 0.1, 0.1])
    return stripe[:, None] * red + (1 - stripe[:, None]) * base
