"""Stage-1 density fields given by a formula, for tests of what is built from a field's density."""

from __future__ import annotations

from typing import Callable

import torch


class RadialDensity(torch.nn.Module):
    """A field whose density is ``of_radius(|p|)`` (points (N, 3) → (N,)); one parameter, so it has a device."""

    def __init__(self, of_radius: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.of_radius = of_radius

    def density(self, points: torch.Tensor) -> torch.Tensor:
        return self.of_radius(points.norm(dim=-1))
