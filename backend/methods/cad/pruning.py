"""CAD's camera-pose pruning (paper Sec. 3.3): per target pose, drop the view when its N parallel samples disagree.

Two checks, both from the paper. **Geometry**: the samples' foreground masks are intersected
into a shared overlap, which is dilated to allow some deformation; a sample's pixels outside it
are "bad pixels", and the pose is dropped when the largest count over the samples exceeds a
threshold. **Semantics**: the pose is dropped when the smallest CLIP image similarity of a
sample to the reference view (Eq. 11) is below a threshold. A pose that passes both keeps only
its sample most similar to the reference.

The papers give no value for the dilation or either threshold; :class:`PruningConfig`'s defaults
were tuned on the synthetic world with :func:`image_similarity`, a weight-free stand-in for CLIP's
similarity (``min_similarity`` must be re-tuned for real CLIP, whose scores live on another scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .config import PruningConfig


SimilarityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``similarity(a (A, 3, H, W), b (B, 3, H', W')) -> (A, B)``, as :meth:`backend.teachers.clip.ClipScorer.image_similarity`."""


@dataclass(frozen=True)
class PruneDecision:
    """What pruning decided for one target pose."""

    keep: bool
    """The pose passed both checks."""
    reason: str | None
    """``"outside_overlap"`` (geometry, checked first), ``"low_similarity"``, or None when kept."""
    max_outside: int
    """Largest count of a sample's foreground pixels outside the dilated overlap."""
    min_similarity: float
    """Smallest similarity of a sample to the reference."""
    best: int
    """Index of the sample most similar to the reference (the one kept)."""


def foreground_masks(images: torch.Tensor, background: float = 1.0, tolerance: float = 0.02) -> torch.Tensor:
    """(N, H, W) bool: pixels of ``images`` (N, 3, H, W) where some channel is further than ``tolerance`` from ``background``."""
    return ((images - background).abs() > tolerance).any(dim=1)


def overlap_mask(masks: torch.Tensor, dilation_px: int) -> torch.Tensor:
    """(H, W) bool: the intersection of ``masks`` (N, H, W) bool, dilated by ``dilation_px`` (a square max-pool)."""
    shared = masks.all(dim=0).float()[None, None]
    if dilation_px > 0:
        shared = F.max_pool2d(shared, 2 * dilation_px + 1, stride=1, padding=dilation_px)
    return shared[0, 0] > 0


def outside_counts(masks: torch.Tensor, overlap: torch.Tensor) -> torch.Tensor:
    """(N,) int64: pixels of each of ``masks`` (N, H, W) bool outside ``overlap`` (H, W) bool."""
    return (masks & ~overlap).sum(dim=(1, 2))


def dilation_px(config: PruningConfig, side: int) -> int:
    """The dilation in pixels for images ``side`` pixels across."""
    return round(config.dilation_fraction * side)


def prune_pose(images: torch.Tensor, reference: torch.Tensor, similarity: SimilarityFn, config: PruningConfig = PruningConfig()) -> PruneDecision:
    """Decide one pose from its N samples ``images`` (N, 3, H, W) in [0, 1] and the reference view ``reference`` (3, H', W').

    Dropped when some sample has more than ``max_outside_fraction`` of the pixels outside the dilated
    overlap, else when some sample's similarity to the reference is below ``min_similarity``; a kept
    pose keeps sample ``best`` only. ``similarity`` is :func:`image_similarity` or a CLIP scorer's.
    """
    masks = foreground_masks(images, tolerance=config.tolerance)
    max_outside = int(outside_counts(masks, overlap_mask(masks, dilation_px(config, max(masks.shape[-2:])))).max())
    scores = similarity(images, reference[None])[:, 0]
    min_similarity = float(scores.min())
    reason = None
    if max_outside > config.max_outside_fraction * masks.shape[-2] * masks.shape[-1]:
        reason = "outside_overlap"
    elif min_similarity < config.min_similarity:
        reason = "low_similarity"
    return PruneDecision(keep=reason is None, reason=reason, max_outside=max_outside, min_similarity=min_similarity, best=int(scores.argmax()))


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
