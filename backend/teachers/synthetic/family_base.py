"""A parametric family of scenes: the type every family — built in or random — is made of."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Callable

import torch

from .shapes import Color, Scene

Parameters = dict[str, float]


def hue_color(hue: float, saturation: float = 0.75, value: float = 0.9) -> Color:
    """An RGB colour from a hue in [0, 1]."""
    return colorsys.hsv_to_rgb(hue % 1.0, saturation, value)


@dataclass(frozen=True)
class Family:
    """A parametric family of scenes."""

    name: str
    """Registry key and the name of its scenes."""
    ranges: dict[str, tuple[float, float]]
    """Parameter → (low, high); members draw each uniformly."""
    build: Callable[[Parameters], Scene]
    """Parameters → scene (centred by :meth:`member`)."""

    def member(self, parameters: Parameters) -> Scene:
        """The member with these parameters, its bounding box centred on the origin."""
        return self.build(parameters).centered()

    def sample_parameters(self, generator: torch.Generator | None = None) -> Parameters:
        u = torch.rand(len(self.ranges), generator=generator, dtype=torch.float64).tolist()
        return {key: low + (high - low) * x for x, (key, (low, high)) in zip(u, self.ranges.items())}

    def sample(self, generator: torch.Generator | None = None) -> Scene:
        """A random member."""
        return self.member(self.sample_parameters(generator))

    def interpolate(self, a: Parameters, b: Parameters, weight: float) -> Scene:
        """The member at (1 − weight)·a + weight·b."""
        return self.member({key: (1 - weight) * a[key] + weight * b[key] for key in self.ranges})
