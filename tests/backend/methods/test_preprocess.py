"""Foreground from alpha or the offline background removal; recentring and rescaling."""

import numpy as np
import pytest

from backend.methods.preprocess import foreground, recentre, reference_view


def _disc_photo(alpha: bool) -> np.ndarray:
    """A red disc of radius 10 centred at (row 20, col 45) on a grey 64×80 backdrop."""
    image = np.full((64, 80, 4), 255, np.uint8)
    image[..., :3] = (200, 200, 205)
    rows, cols = np.mgrid[:64, :80]
    disc = (rows - 20) ** 2 + (cols - 45) ** 2 <= 100
    image[disc, :3] = (220, 30, 30)
    if alpha:
        image[..., 3] = np.where(disc, 255, 0)
    return image, disc


@pytest.mark.parametrize("alpha, source", [(True, "alpha"), (False, "background")])
def test_the_mask_comes_from_alpha_or_from_the_backdrop(alpha, source):
    image, disc = _disc_photo(alpha)
    _, mask, found = foreground(image)
    assert found == source
    assert ((mask > 0.5) == disc).mean() > 0.99


def test_an_image_without_an_object_is_refused():
    with pytest.raises(ValueError, match="no object"):
        foreground(np.full((32, 32, 4), 255, np.uint8))
    with pytest.raises(ValueError, match="RGBA"):
        foreground(np.zeros((32, 32, 3), np.uint8))


def test_recentring_puts_the_object_in_the_middle_at_the_asked_size():
    image, _ = _disc_photo(True)
    view = reference_view(image, size=100, fraction=0.8)
    mask = view.mask[0].numpy() > 0.5
    rows, cols = np.nonzero(mask)
    assert abs(rows.mean() - 49.5) < 1.5 and abs(cols.mean() - 49.5) < 1.5
    assert abs((rows.max() - rows.min() + 1) - 80) <= 2, "the larger side is 80 % of the image"
    assert view.rgb[:, 0, 0].tolist() == [1.0, 1.0, 1.0], "white background"
    centre = view.rgb[:, 50, 50].numpy()
    assert centre[0] > 0.8 and centre[1] < 0.2, "the object keeps its colour"
    assert view.source == "alpha"


def test_recentre_keeps_aspect():
    rgb = np.zeros((40, 40, 3), np.float32)
    mask = np.zeros((40, 40), np.float32)
    mask[10:20, 5:35] = 1  # 10 tall, 30 wide
    view = recentre(rgb, mask, size=60, fraction=0.5)
    rows, cols = np.nonzero(view.mask[0].numpy() > 0.5)
    assert abs((cols.max() - cols.min() + 1) - 30) <= 1 and abs((rows.max() - rows.min() + 1) - 10) <= 1
