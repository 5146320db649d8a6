import numpy as np
import pytest
import torch

from backend.teachers.synthetic.families import FAMILIES, family


@pytest.mark.parametrize("name", list(FAMILIES))
def test_members_vary_continuously_and_fit_the_box(name):
    fam = family(name)
    generator = torch.Generator().manual_seed(0)
    a, b = fam.sample_parameters(generator), fam.sample_parameters(generator)
    assert a != b
    for key, (low, high) in fam.ranges.items():
        assert low <= a[key] <= high
    points = torch.rand(20_000, 3, generator=generator) * 1.4 - 0.7
    occupied = [fam.interpolate(a, b, w).occupancy(points).float().mean().item() for w in (0.0, 0.5, 1.0)]
    assert all(o > 0.005 for o in occupied)
    assert min(occupied[0], occupied[2]) - 0.05 <= occupied[1] <= max(occupied[0], occupied[2]) + 0.05
    for w in (0.0, 1.0):
        lo, hi = fam.interpolate(a, b, w).bounds()
        assert lo.min() >= -0.7 and hi.max() <= 0.7
        assert np.allclose(lo + hi, 0, atol=1e-6)


def test_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match="snowman"):
        family("teapot")
