"""Interpolation of latent vectors, as pure functions."""

from __future__ import annotations

import numpy as np


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The point a fraction ``t`` of the way from ``a`` to ``b`` (any equal shapes), float32."""
    return ((1.0 - t) * np.asarray(a, np.float32) + t * np.asarray(b, np.float32)).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between Gaussian latents ``a`` and ``b`` (any equal shapes, treated as one vector each):
    high-dimensional Gaussian samples live near a sphere, and a straight line between two would cut through its inside
    (lower norm than any sample). Falls back to :func:`lerp` for (anti)parallel vectors."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = np.vdot(a64, b64) / max(np.linalg.norm(a64) * np.linalg.norm(b64), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6 or np.pi - omega < 1e-6:
        return lerp(a, b, t)
    return ((np.sin((1 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)).astype(np.float32)
