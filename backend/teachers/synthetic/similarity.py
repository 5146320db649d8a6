"""A weight-free stand-in for CLIP's image similarity, for the synthetic world (flat colours on white).

Used where CLIP weights are absent: CAD's pose pruning and inversion pick, and ``distill3d eval``'s CLIP columns.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...core.masks import foreground_masks


HISTOGRAM_BINS = 8
"""Levels per channel of :func:`image_embeddings`' joint colour histogram (8³ = 512 bins)."""
SILHOUETTE_SIDE = 8
"""Side of :func:`image_embeddings`' downsampled silhouette (8² = 64 values)."""


def image_embeddings(images: torch.Tensor, background: float = 1.0, tolerance: float = 0.02) -> torch.Tensor:
    """Unit embeddings (B, 576) of ``images`` (B, 3, H, W) in [0, 1]: a weight-free stand-in for CLIP's image encoder.

    Two equally weighted unit halves: the square root of the normalised joint colour histogram of
    the foreground pixels (so the cosine of two halves is their Bhattacharyya coefficient), and the
    foreground mask average-pooled to ``SILHOUETTE_SIDE``² (a grey silhouette: each cell's coverage).
    Deterministic and meaningful only in the synthetic world (flat colours on white): it sees
    colours and coarse shape, not semantics (a snowman scores about 0.73 against a mushroom).
    """
    images = images.float().clamp(0, 1)
    batch = images.shape[0]
    levels = (images * HISTOGRAM_BINS).long().clamp_max(HISTOGRAM_BINS - 1)
    bins = (levels[:, 0] * HISTOGRAM_BINS + levels[:, 1]) * HISTOGRAM_BINS + levels[:, 2]
    masks = foreground_masks(images, background, tolerance).float()
    histogram = torch.zeros(batch, HISTOGRAM_BINS**3, device=images.device).scatter_add_(1, bins.reshape(batch, -1), masks.reshape(batch, -1))
    silhouette = F.adaptive_avg_pool2d(masks[:, None], SILHOUETTE_SIDE).reshape(batch, -1)
    return torch.cat([F.normalize(histogram.sqrt(), dim=-1), F.normalize(silhouette, dim=-1)], dim=-1) / 2**0.5


def image_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A, B) cosine similarity of every image in ``a`` (A, 3, H, W) to every image in ``b`` (B, 3, H', W'), in [0, 1].

    The stand-in for :meth:`backend.teachers.clip.ClipScorer.image_similarity` (same call shape) when
    there are no CLIP weights: see :func:`image_embeddings`.
    """
    return image_embeddings(a) @ image_embeddings(b).T
