"""Camera-pose de-biasing: the paper's azimuth bands, dropout and clamping."""

import pytest
import torch

from backend.methods.dtc123.debias import debias, in_band

BACK = (165.0, 195.0)
SIDES = (30.0, 45.0)


@pytest.mark.parametrize("azimuth, back, side", [
    (0.0, False, False), (30.0, False, True), (-40.0, False, True), (320.0, False, True), (50.0, False, False),
    (170.0, True, False), (-170.0, True, False), (180.0, True, False), (160.0, False, False), (540.0, True, False),
])  # fmt: skip
def test_bands_cover_both_sides_and_the_back(azimuth, back, side):
    assert in_band(azimuth, BACK) is back and in_band(azimuth, SIDES) is side


def test_outside_the_band_the_gradient_is_untouched():
    gradient = torch.randn(1, 4, 8, 8) * 5
    assert torch.equal(debias(gradient, 90.0, SIDES, 1.0, 0.1, torch.Generator().manual_seed(0)), gradient)


def test_inside_the_band_it_is_dropped_or_clamped():
    gradient = torch.randn(1, 4, 8, 8) * 5
    assert torch.count_nonzero(debias(gradient, 35.0, SIDES, 1.0, 0.1, torch.Generator())) == 0, "dropout 1 always drops"
    clamped = debias(gradient, 35.0, SIDES, 0.0, 0.1, torch.Generator())
    assert clamped.abs().max() <= 0.1 and torch.equal(clamped, gradient.clamp(-0.1, 0.1)), "dropout 0 always clamps"
    generator = torch.Generator().manual_seed(1)
    dropped = sum(int(torch.count_nonzero(debias(gradient, 180.0, BACK, 0.5, 0.1, generator)) == 0) for _ in range(400))
    assert 150 < dropped < 250, f"about half dropped at p = 0.5, got {dropped}/400"
