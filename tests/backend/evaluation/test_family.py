"""Family resemblance and diversity (moved here from the CAD tests' scoring helpers)."""

import numpy as np
import pytest

from backend.evaluation.family import GRID, diversity, iou, mean_pairwise_iou, nearest_member_iou, occupancy_grid

from .meshes import box


def grid(*cells: int, size: int = 8) -> np.ndarray:
    out = np.zeros(size, bool)
    out[list(cells)] = True
    return out


def test_iou_of_identical_disjoint_and_empty_grids():
    assert iou(grid(1, 2), grid(1, 2)) == 1.0
    assert iou(grid(1, 2), grid(3, 4)) == 0.0
    assert iou(grid(), grid()) == 0.0
    assert iou(grid(1, 2), grid(2, 3)) == pytest.approx(1 / 3)


def test_each_sample_is_scored_against_the_member_it_resembles_most():
    members = [grid(0, 1), grid(4, 5)]
    assert nearest_member_iou([grid(0, 1), grid(5, 6), grid(7)], members) == [1.0, pytest.approx(1 / 3), 0.0]


def test_diversity_is_zero_for_copies_and_one_for_disjoint_samples():
    assert diversity([grid(0, 1)] * 3) == 0.0
    assert diversity([grid(0), grid(1), grid(2)]) == 1.0
    assert mean_pairwise_iou([grid(0, 1), grid(1, 2)]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="two"):
        diversity([grid(0)])


def test_occupancy_grid_is_flat_on_the_default_grid():
    vertices, faces = box((0.0, 0.0, 0.0), (0.5, 1.0, 1.0))
    cells = occupancy_grid(vertices, faces, np.zeros(3), np.ones(3))
    assert cells.shape == (GRID**3,) and cells.mean() == pytest.approx(0.5)
