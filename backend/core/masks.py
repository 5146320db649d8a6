"""Foreground masks of renders on a flat background (white, as every teacher and render here uses)."""

from __future__ import annotations

import torch


def foreground_masks(images: torch.Tensor, background: float = 1.0, tolerance: float = 0.02) -> torch.Tensor:
    """(N, H, W) bool: pixels of ``images`` (N, 3, H, W) where some channel is further than ``tolerance`` from ``background``."""
    return ((images - background).abs() > tolerance).any(dim=1)
