"""Adaptive discriminator augmentation (Karras et al., StyleGAN2-ADA), as CAD uses it in stage 1.

Every image the discriminator sees — real and generated alike — goes through the same random
pipeline, each transform applied with probability p. Only transforms that keep the image's
camera pose are used, since the discriminator is conditioned on it: integer translation (with
wrap-around, as ADA's), brightness, contrast, saturation, and cutout, each with ADA's
distribution (images here are in [0, 1], ADA's in [−1, 1], so its colour transforms about the
origin act about 0.5 here). Colour transforms act on every group of three channels (the dual
discriminator's image is the output and the raw render stacked). p is steered so that
r_t = E[sign(D(real))] stays near a target (ADA's heuristic).
"""

from __future__ import annotations

import math

import torch

TRANSLATE = 0.125
"""Largest translation, as a fraction of the image side: uniform in ±this, rounded to pixels (ADA's ``xint_max``)."""
BRIGHTNESS_STD = 0.2
"""Std of the additive brightness offset (ADA's, on [−1, 1] images: half of it here)."""
LOG2_CONTRAST_STD = 0.5
"""Std of log2 of the contrast factor (ADA's)."""
LOG2_SATURATION_STD = 1.0
"""Std of log2 of the saturation factor (ADA's)."""
CUTOUT = 0.5
"""Side of the cut-out square, as a fraction of the image side (ADA's)."""


def augment(images: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``images`` (B, 3k, H, W) with each transform applied per image with probability ``p``; gradients flow through."""
    if p <= 0:
        return images
    batch, channels, height, width = images.shape
    device = images.device

    def chosen() -> torch.Tensor:
        return (torch.rand(batch, generator=generator) < p).to(device)

    def normal(std: float) -> torch.Tensor:
        return (torch.randn(batch, generator=generator) * std).to(device)

    def uniform() -> torch.Tensor:
        return (torch.rand(batch, generator=generator) * 2 - 1).to(device)

    out = images
    shift_y = torch.where(chosen(), torch.round(uniform() * TRANSLATE * height), torch.zeros((), device=device)).long()
    shift_x = torch.where(chosen(), torch.round(uniform() * TRANSLATE * width), torch.zeros((), device=device)).long()
    rows = (torch.arange(height, device=device)[None] - shift_y[:, None]) % height  # (B, H)
    cols = (torch.arange(width, device=device)[None] - shift_x[:, None]) % width  # (B, W)
    out = out.gather(2, rows[:, None, :, None].expand(-1, channels, -1, width))
    out = out.gather(3, cols[:, None, None, :].expand(-1, channels, height, -1))

    grouped = out.reshape(batch, channels // 3, 3, height, width)
    brightness = torch.where(chosen(), normal(BRIGHTNESS_STD / 2), torch.zeros((), device=device))
    grouped = grouped + brightness[:, None, None, None, None]
    contrast = torch.where(chosen(), torch.exp2(normal(LOG2_CONTRAST_STD)), torch.ones((), device=device))
    grouped = (grouped - 0.5) * contrast[:, None, None, None, None] + 0.5
    saturation = torch.where(chosen(), torch.exp2(normal(LOG2_SATURATION_STD)), torch.ones((), device=device))
    grey = grouped.mean(dim=2, keepdim=True)
    grouped = (grouped - grey) * saturation[:, None, None, None, None] + grey
    out = grouped.reshape(batch, channels, height, width)

    cut = chosen()
    centre_y = (torch.rand(batch, generator=generator).to(device) * height)[:, None, None]
    centre_x = (torch.rand(batch, generator=generator).to(device) * width)[:, None, None]
    ys = torch.arange(height, device=device, dtype=images.dtype)[None, :, None] + 0.5
    xs = torch.arange(width, device=device, dtype=images.dtype)[None, None, :] + 0.5
    inside = ((ys - centre_y).abs() < CUTOUT * height / 2) & ((xs - centre_x).abs() < CUTOUT * width / 2) & cut[:, None, None]
    return out * (~inside)[:, None].to(out.dtype)


def adjust_probability(p: float, real_signs: float, target: float, images_seen: int, speed_kimg: float) -> float:
    """ADA's update: p moves by ±images_seen / (speed_kimg·1000) towards keeping E[sign(D(real))] = ``target``; clamped to [0, 1]."""
    step = math.copysign(images_seen / (speed_kimg * 1000.0), real_signs - target)
    return min(max(p + step, 0.0), 1.0)
