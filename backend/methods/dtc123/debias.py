"""Camera-pose de-biasing (DTC123 Sec. 4.3): in an azimuth band a teacher's guidance is dropped at random, or clamped."""

from __future__ import annotations

import torch


def in_band(azimuth_deg: float, band: tuple[float, float]) -> bool:
    """Whether the view's azimuth (0° = the reference view) lies in ``band`` = (lo, hi)° on either side: a mod 360 or −a mod 360
    in [lo, hi] (the paper's [165°, 195°] straddles the back; ±[30°, 45°] are the two sides)."""
    lo, hi = band
    return any(lo <= value <= hi for value in (azimuth_deg % 360.0, -azimuth_deg % 360.0))


def debias(gradient: torch.Tensor, azimuth_deg: float, band: tuple[float, float], dropout: float, clip: float, generator: torch.Generator) -> torch.Tensor:
    """``gradient`` unchanged outside ``band``; inside, zero with probability ``dropout``, otherwise clamped to ±``clip``.

    The random draw is made for every call (in the band or not), so a run's random stream does not depend on the poses.
    """
    drop = float(torch.rand((), generator=generator)) < dropout
    if not in_band(azimuth_deg, band):
        return gradient
    return torch.zeros_like(gradient) if drop else gradient.clamp(-clip, clip)
