"""Progress previews: every view at PREVIEW_SIZE², tiled in a near-square grid."""

import numpy as np
import pytest
import torch

from backend.engine.preview import PREVIEW_SIZE, grid_shape, preview_grid


@pytest.mark.parametrize(("count", "shape"), [(1, (1, 1)), (2, (1, 2)), (3, (2, 2)), (4, (2, 2)), (5, (2, 3)), (16, (4, 4))])
def test_the_grid_is_as_square_as_the_count_allows(count, shape):
    assert grid_shape(count) == shape


def test_small_renders_are_enlarged_to_the_preview_size_and_tiled_row_by_row():
    colours = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]
    views = [torch.tensor(colour)[:, None, None].expand(3, side, side) for colour, side in zip(colours, (16, 32, 512))]
    grid = preview_grid(views)
    assert PREVIEW_SIZE >= 256 and grid.shape == (2 * PREVIEW_SIZE, 2 * PREVIEW_SIZE, 3) and grid.dtype == np.float32
    cells = grid.reshape(2, PREVIEW_SIZE, 2, PREVIEW_SIZE, 3).transpose(0, 2, 1, 3, 4)
    assert np.allclose(cells[0, 0], colours[0]) and np.allclose(cells[0, 1], colours[1]) and np.allclose(cells[1, 0], colours[2])
    assert np.allclose(cells[1, 1], 1.0), "the empty cell is the white background"


def test_values_are_clamped_to_the_unit_range():
    grid = preview_grid([torch.full((3, 8, 8), 1.5), torch.full((3, 8, 8), -0.5)], size=8)
    assert grid.shape == (8, 16, 3) and grid.max() == 1.0 and grid.min() == 0.0
