"""Grid occupancy by ray winding numbers: exact on boxes, the winding number's answer on curved meshes, robust to overlaps and holes."""

import numpy as np
import pytest
import torch

from backend.core.mesh_ops import winding_number
from backend.evaluation.occupancy import grid_points, inside_grid

from .meshes import box, sphere


def test_a_box_fills_exactly_the_cells_whose_centres_it_holds():
    vertices, faces = box((0.1, 0.2, 0.3), (0.6, 0.7, 0.9))
    inside = inside_grid(vertices, faces, np.zeros(3), np.ones(3), 10)
    points = grid_points(np.zeros(3), np.ones(3), 10).reshape(10, 10, 10, 3)
    expected = np.all((points > [0.1, 0.2, 0.3]) & (points < [0.6, 0.7, 0.9]), axis=-1)
    assert inside.shape == (10, 10, 10) and np.array_equal(inside, expected)


def test_it_agrees_with_the_generalised_winding_number_on_a_sphere():
    vertices, faces = sphere(0.5)
    lo, hi = np.full(3, -0.6), np.full(3, 0.6)
    inside = inside_grid(vertices, faces, lo, hi, 14).reshape(-1)
    winding = winding_number(grid_points(lo, hi, 14), vertices, faces) > 0.5
    assert inside.sum() > 300 and (inside != winding).sum() <= 2


def test_flipped_faces_overlapping_parts_and_a_missing_face_are_still_inside():
    lo, hi = np.full(3, -0.1), np.full(3, 1.1)
    vertices, faces = box()
    full = inside_grid(vertices, faces, lo, hi, 12)
    assert np.array_equal(inside_grid(vertices, faces[:, ::-1], lo, hi, 12), full), "an inward-facing mesh"
    assert np.array_equal(inside_grid(vertices, faces[1:], lo, hi, 12), full), "a hole: the other two axes out-vote the leaky one"
    a, fa = box((0.0, 0.0, 0.0), (0.7, 1.0, 1.0))
    b, fb = box((0.3, 0.0, 0.0), (1.0, 1.0, 1.0))
    union = inside_grid(np.concatenate([a, b]), np.concatenate([fa, fb + len(a)]), lo, hi, 12)
    assert np.array_equal(union, full), "two overlapping closed parts: their union (winding 2 in the overlap)"


def test_an_empty_mesh_holds_nothing_and_a_grid_needs_cells():
    assert not inside_grid(np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(3), np.ones(3), 4).any()
    with pytest.raises(ValueError, match="at least one cell"):
        inside_grid(*box(), np.zeros(3), np.ones(3), 0)


def test_a_marching_cubes_family_member_matches_its_exact_occupancy():
    from backend.evaluation.objects import scene_mesh
    from backend.teachers.synthetic.families import family

    scene = family("table").sample(torch.Generator().manual_seed(0))
    mesh = scene_mesh(scene)  # marching cubes at 96: coarser meshes thin the table's 0.08-thick top
    lo, hi = np.full(3, -0.75), np.full(3, 0.75)
    inside = inside_grid(mesh.positions.numpy(), mesh.faces.numpy(), lo, hi, 32).reshape(-1)
    exact = scene.occupancy(torch.from_numpy(grid_points(lo, hi, 32)).float()).numpy()
    assert np.logical_and(inside, exact).sum() / np.logical_or(inside, exact).sum() > 0.85
