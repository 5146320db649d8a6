"""The antialiased coverage: the covered area of straight edges, and silhouette gradients the hard mask lacks."""

import pytest
import torch

from backend.core.raster import rasterize_torch, soft_coverage

SIZE = 24
FACES = torch.tensor([[0, 1, 2], [0, 2, 3]])


def _clip(pixels: torch.Tensor) -> torch.Tensor:
    """Screen points (V, 2) in pixels (x right, y down) → clip coordinates (1, V, 4) with w = 1."""
    x, y = pixels[:, 0] / SIZE * 2 - 1, 1 - pixels[:, 1] / SIZE * 2
    return torch.stack([x, y, torch.zeros_like(x), torch.ones_like(x)], dim=-1)[None]


def _rectangle(left: float, top: float, right: float, bottom: float) -> torch.Tensor:
    return torch.tensor([[left, top], [right, top], [right, bottom], [left, bottom]], requires_grad=True)


def test_a_rectangle_covers_its_area_and_its_edges_move_the_coverage():
    corners = _rectangle(5.2, 6.1, 20.7, 17.4)
    clip = _clip(corners)
    raster = rasterize_torch(clip, FACES, SIZE, SIZE)
    coverage = soft_coverage(clip, FACES, raster)
    values = coverage.detach()
    assert values.shape == (1, SIZE, SIZE) and 0.0 <= float(values.min()) and float(values.max()) <= 1.0
    area = 15.5 * 11.3
    assert abs(float(raster.mask.sum()) - area) > abs(float(values.sum()) - area), "closer to the area than the hard mask"
    assert float(values[0, 10, 20]) == pytest.approx(0.7, abs=1e-4), "the last column: the edge at x = 20.7 covers 0.7 of it"
    assert float(values[0, 10, 5]) == pytest.approx(0.8, abs=1e-4), "the first: the edge at x = 5.2 covers 0.8 of it"
    coverage.sum().backward()
    grad = corners.grad
    assert float(grad[[1, 2], 0].sum()) == pytest.approx(11.0, abs=2.0), "moving the right edge by a pixel adds its 11 rows"
    assert float(grad[[0, 3], 0].sum()) == pytest.approx(-11.0, abs=2.0)
    assert float(grad[[2, 3], 1].sum()) == pytest.approx(15.0, abs=2.0), "moving the bottom edge down adds its 15 columns"


def test_inside_pixels_carry_no_gradient_and_an_empty_image_is_zero():
    corners = _rectangle(-5.0, -5.0, 30.0, 30.0)  # covers the whole image: no silhouette inside it
    clip = _clip(corners)
    coverage = soft_coverage(clip, FACES, rasterize_torch(clip, FACES, SIZE, SIZE))
    assert torch.equal(coverage, torch.ones(1, SIZE, SIZE))
    outside = _clip(_rectangle(30.0, 30.0, 40.0, 40.0))
    assert float(soft_coverage(outside, FACES, rasterize_torch(outside, FACES, SIZE, SIZE)).sum()) == 0.0
