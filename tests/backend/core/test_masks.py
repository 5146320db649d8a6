"""Foreground masks on white."""

import torch

from backend.core.masks import foreground_masks


def test_foreground_masks_ignore_near_white():
    images = torch.ones(2, 3, 4, 4)
    images[0, 1, 0, 0] = 0.5
    images[0, :, 1, 1] = 0.99
    images[1, 2, 3, 3] = 0.97
    masks = foreground_masks(images, tolerance=0.02)
    assert masks.shape == (2, 4, 4) and masks.dtype == torch.bool
    assert masks.nonzero().tolist() == [[0, 0, 0], [1, 3, 3]]
