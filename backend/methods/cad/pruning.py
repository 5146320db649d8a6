"""CAD's camera-pose pruning (paper Sec. 3.3): per target pose, drop the view when its N parallel samples disagree.

Two checks, both from the paper. **Geometry**: the samples' foreground masks are intersected
into a shared overlap, which is dilated to allow some deformation; a sample's pixels outside it
are "bad pixels", and the pose is dropped when the largest count over the samples exceeds a
threshold. **Semantics**: the pose is dropped when the smallest CLIP image similarity of a
sample to the reference view (Eq. 11) is below a threshold. A pose that passes both keeps only
its sample most similar to the reference.

The papers give no value for the dilation or either threshold. Both are relative, so they hold for
any object, resolution and similarity measure: the bad-pixel count is a fraction of the pose's own
mean foreground area, and the similarity threshold is :func:`similarity_cut` of the job's own
scores — the median of Eq. 11 over a calibration batch of poses minus a few robust spreads — so it
means the same for real CLIP and for :func:`backend.teachers.synthetic.similarity.image_similarity`, the weight-free stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ...core.masks import foreground_masks
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
    outside_share: float
    """``max_outside`` as a share of the samples' mean foreground area (what ``max_outside_fraction`` bounds)."""
    min_similarity: float
    """Smallest similarity of a sample to the reference."""
    best: int
    """Index of the sample most similar to the reference (the one kept)."""


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


@dataclass(frozen=True)
class SimilarityCut:
    """The semantic threshold of one job, from the Eq. 11 scores of its calibration poses."""

    median: float
    """Median over the calibration poses of their smallest sample-to-reference similarity."""
    spread: float
    """1.4826 × their median absolute deviation (σ for normal scores), at least :data:`MIN_SPREAD`."""
    threshold: float
    """``median − similarity_spreads · spread``: a pose scoring below it is dropped."""
    poses: int
    """Calibration poses the cut was measured on."""


MIN_SPREAD = 0.01
"""Floor of :attr:`SimilarityCut.spread`, so that identical calibration scores do not make the cut their own value."""
MAD_TO_SIGMA = 1.4826
"""The median absolute deviation of normal data times this is its standard deviation."""


def similarity_cut(scores: torch.Tensor, spreads: float) -> SimilarityCut:
    """The cut ``median − spreads · spread`` of calibration scores (P,) (each pose's smallest Eq. 11 similarity).

    Median and MAD ignore up to half the poses being bad, so the cut follows the good samples of this
    job — whatever the object, the similarity measure's scale or how far most views are from the reference."""
    if scores.numel() == 0:
        raise ValueError("the similarity cut needs at least one calibration pose")
    scores = scores.double()
    median = float(scores.median())
    spread = max(MAD_TO_SIGMA * float((scores - median).abs().median()), MIN_SPREAD)
    return SimilarityCut(median=median, spread=spread, threshold=median - spreads * spread, poses=int(scores.numel()))


def pose_scores(images: torch.Tensor, reference: torch.Tensor, similarity: SimilarityFn, config: PruningConfig) -> tuple[int, float, torch.Tensor]:
    """``(max_outside, outside_share, similarities (N,))`` of one pose's N samples ``images`` (N, 3, H, W) in [0, 1]
    against the reference view ``reference`` (3, H', W')."""
    masks = foreground_masks(images, tolerance=config.tolerance)
    max_outside = int(outside_counts(masks, overlap_mask(masks, dilation_px(config, max(masks.shape[-2:])))).max())
    area = float(masks.sum(dim=(1, 2)).float().mean())
    return max_outside, (max_outside / area if area > 0 else float(max_outside > 0)), similarity(images, reference[None])[:, 0].float()


def prune_pose(
    images: torch.Tensor, reference: torch.Tensor, similarity: SimilarityFn, config: PruningConfig, cut: SimilarityCut,
) -> PruneDecision:
    """Decide one pose from its N samples ``images`` (N, 3, H, W) in [0, 1] and the reference view ``reference`` (3, H', W').

    Dropped when some sample has more foreground pixels outside the dilated overlap than
    ``max_outside_fraction`` of the samples' mean foreground area, else when some sample's similarity to the
    reference is below the job's ``cut``; a kept pose keeps sample ``best`` only. ``similarity`` is
    :func:`image_similarity` or a CLIP scorer's.
    """
    max_outside, outside_share, scores = pose_scores(images, reference, similarity, config)
    min_similarity = float(scores.min())
    reason = None
    if outside_share > config.max_outside_fraction:
        reason = "outside_overlap"
    elif min_similarity < cut.threshold:
        reason = "low_similarity"
    return PruneDecision(
        keep=reason is None, reason=reason, max_outside=max_outside, outside_share=outside_share, min_similarity=min_similarity,
        best=int(scores.argmax()),
    )  # fmt: skip
