"""CAD's pose pruning: overlap and outside counts on hand-made masks, the decision rule."""

import pytest
import torch

from backend.methods.cad.pruning import (
    MIN_SPREAD, PruningConfig, SimilarityCut, dilation_px, outside_counts, overlap_mask, prune_pose, similarity_cut,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def boxes(side: int, *rectangles: tuple[int, int, int, int]) -> torch.Tensor:
    """(len(rectangles), side, side) bool masks, each one rectangle (top, left, bottom, right), bounds exclusive."""
    masks = torch.zeros(len(rectangles), side, side, dtype=torch.bool)
    for mask, (top, left, bottom, right) in zip(masks, rectangles):
        mask[top:bottom, left:right] = True
    return masks


def paint(masks: torch.Tensor, color=(0.8, 0.2, 0.1)) -> torch.Tensor:
    """(N, 3, H, W) images: ``color`` on the masks, white elsewhere."""
    images = torch.ones(masks.shape[0], 3, *masks.shape[1:])
    for channel, value in enumerate(color):
        images[:, channel][masks] = value
    return images


def test_overlap_is_the_intersection_dilated_by_a_square():
    masks = boxes(10, (2, 2, 6, 6), (3, 3, 7, 7))
    assert torch.equal(overlap_mask(masks, 0), boxes(10, (3, 3, 6, 6))[0])
    assert torch.equal(overlap_mask(masks, 1), boxes(10, (2, 2, 7, 7))[0])
    assert torch.equal(overlap_mask(masks, 3), boxes(10, (0, 0, 9, 9))[0]), "clipped at the border"


def test_outside_counts_by_hand():
    masks = boxes(10, (2, 2, 6, 6), (3, 3, 7, 7), (3, 3, 6, 9))
    overlap = overlap_mask(masks, 0)  # rows 3–5, columns 3–5: 9 pixels
    assert outside_counts(masks, overlap).tolist() == [16 - 9, 16 - 9, 18 - 9]
    assert outside_counts(masks, overlap_mask(masks, 1)).tolist() == [0, 0, 18 - 12], "dilated: rows 2–6, columns 2–6"


def fixed_similarity(scores):
    """A similarity function with ``ClipScorer.image_similarity``'s call shape that returns ``scores`` against one reference."""

    def similarity(a, b):
        assert a.ndim == 4 and b.ndim == 4 and b.shape[0] == 1
        return torch.tensor(scores, dtype=torch.float32)[: a.shape[0], None]

    return similarity


CONFIG = PruningConfig(dilation_fraction=0.1, max_outside_fraction=0.2)
"""On 20-px images: 2-px dilation; more outside pixels than a fifth of the samples' mean foreground area is too many."""
CUT = SimilarityCut(median=0.8, spread=0.1, threshold=0.5, poses=32)
"""A job whose calibration poses scored 0.8 ± 0.1: below 0.5 is too dissimilar."""


def test_agreeing_samples_keep_the_most_similar():
    images = paint(boxes(20, (4, 4, 14, 14), (5, 4, 15, 14), (4, 5, 14, 15)))
    decision = prune_pose(images, images[0], fixed_similarity([0.7, 0.9, 0.8]), CONFIG, CUT)
    assert decision.keep and decision.reason is None and decision.best == 1
    assert decision.max_outside == 0 and decision.min_similarity == pytest.approx(0.7)


def test_a_sample_outside_the_overlap_drops_the_pose():
    images = paint(boxes(20, (4, 4, 14, 14), (5, 4, 15, 14), (4, 5, 14, 15), (4, 4, 14, 19)))
    decision = prune_pose(images, images[0], fixed_similarity([0.9, 0.9, 0.9, 0.95]), CONFIG, CUT)
    assert not decision.keep and decision.reason == "outside_overlap"
    assert decision.max_outside == 10 * 3, "columns 17–18 are outside the overlap's 2-px dilation (columns 3–16)"
    assert decision.outside_share == pytest.approx(30 / 112.5), "of the mean foreground area (100 + 100 + 100 + 150) / 4"
    assert decision.best == 3, "the best sample is reported even for a dropped pose"
    loose = PruningConfig(dilation_fraction=0.1, max_outside_fraction=0.3)
    assert prune_pose(images, images[0], fixed_similarity([0.9] * 4), loose, CUT).keep, "30 pixels is not more than 30 % of 112.5"


def test_the_outside_threshold_is_relative_to_the_object_not_the_image():
    """The same disagreement — a sample a third wider than the others — drops a pose whatever the object's size."""
    small = paint(boxes(60, (10, 10, 16, 16), (10, 10, 16, 16), (10, 10, 16, 18)))
    large = paint(boxes(60, (5, 5, 50, 50), (5, 5, 50, 50), (5, 5, 50, 65 - 5)))
    config = PruningConfig(dilation_fraction=0.0, max_outside_fraction=0.1)
    for images in (small, large):
        decision = prune_pose(images, images[0], fixed_similarity([0.9] * 3), config, CUT)
        assert decision.reason == "outside_overlap" and decision.outside_share > 0.1, decision
    assert 12 / (60 * 60) < 0.01, "the small object's 12 outside pixels are under 1 % of the image: an image-relative cut missed them"


def test_a_dissimilar_sample_drops_the_pose_and_geometry_is_checked_first():
    agreeing = paint(boxes(20, (4, 4, 14, 14), (5, 4, 15, 14), (4, 5, 14, 15)))
    decision = prune_pose(agreeing, agreeing[0], fixed_similarity([0.9, 0.3, 0.8]), CONFIG, CUT)
    assert not decision.keep and decision.reason == "low_similarity" and decision.min_similarity == pytest.approx(0.3)
    disagreeing = paint(boxes(20, (4, 4, 14, 14), (0, 0, 20, 20)))
    assert prune_pose(disagreeing, agreeing[0], fixed_similarity([0.9, 0.3]), CONFIG, CUT).reason == "outside_overlap"


def test_the_similarity_cut_follows_the_jobs_own_scores():
    """Median − k·1.4826·MAD: the same rule for any scale of scores, robust to a minority of bad poses."""
    random = torch.Generator().manual_seed(0)
    for centre, scale in ((0.9, 0.02), (0.3, 0.1), (-0.2, 0.05)):  # CLIP-like, stand-in-like, anything
        good = centre + scale * torch.randn(400, generator=random)
        bad = centre - 10 * scale + scale * torch.randn(100, generator=random)  # a fifth of the poses far below
        cut = similarity_cut(torch.cat([good, bad]), 3.0)
        assert abs(cut.median - centre) < 2 * scale and 0.7 * scale < cut.spread < 1.6 * scale, cut
        assert float((good < cut.threshold).float().mean()) < 0.05 and bool((bad < cut.threshold).all()), cut
    same = similarity_cut(torch.full((10,), 0.6), 3.0)
    assert same.spread == MIN_SPREAD and same.threshold == pytest.approx(0.6 - 3 * MIN_SPREAD) and same.poses == 10
    with pytest.raises(ValueError, match="at least one"):
        similarity_cut(torch.zeros(0), 3.0)


def test_dilation_is_relative_to_the_image():
    assert [dilation_px(PruningConfig(), side) for side in (32, 48, 64)] == [3, 5, 6]
