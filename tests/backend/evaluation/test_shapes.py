"""Shape metrics on known cases: a mesh against itself, disjoint and half-overlapping boxes, scale invariance."""

import numpy as np
import pytest

from backend.evaluation.shapes import compare_shapes, diagonal, fscore, mesh_iou

from .meshes import box, sphere


def test_a_mesh_against_itself_is_perfect():
    vertices, faces = sphere()
    scores = compare_shapes(vertices, faces, vertices, faces, samples=2000, resolution=24)
    assert scores.chamfer == pytest.approx(0.0, abs=1e-9)
    assert scores.fscore == scores.precision == scores.recall == 1.0
    assert scores.iou == 1.0 and scores.tau == 0.01


def test_disjoint_meshes_have_no_overlap_and_half_a_box_overlaps_a_third():
    a, fa = box((0, 0, 0), (1, 1, 1))
    assert mesh_iou(a, fa, *box((2, 0, 0), (3, 1, 1)), resolution=32) == 0.0
    assert mesh_iou(a, fa, *box((0.5, 0, 0), (1.5, 1, 1)), resolution=48) == pytest.approx(1 / 3, abs=0.02)
    far = compare_shapes(a, fa, *box((2, 0, 0), (3, 1, 1)), samples=2000, resolution=16)
    assert far.iou == 0.0 and far.fscore == 0.0


def test_the_numbers_do_not_depend_on_the_objects_scale():
    a, fa = sphere(0.5)
    b, fb = sphere(0.45, centre=(0.05, 0.0, 0.0))
    small = compare_shapes(b, fb, a, fa, samples=4000, resolution=24)
    large = compare_shapes(b * 10, fb, a * 10, fa, samples=4000, resolution=24)
    assert small.chamfer == pytest.approx(large.chamfer, rel=1e-6) and 0.01 < small.chamfer < 0.1
    assert small.fscore == pytest.approx(large.fscore) and small.iou == pytest.approx(large.iou, abs=1e-9)


def test_fscore_counts_points_within_the_threshold():
    truth = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    points = np.array([[0.0, 0.05, 0], [5.0, 0, 0]])
    f, precision, recall = fscore(points, truth, 0.1)
    assert (precision, recall) == (0.5, 0.5) and f == pytest.approx(0.5)


def test_bad_input_is_refused():
    vertices, faces = box()
    with pytest.raises(ValueError, match="no extent"):
        diagonal(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="τ"):
        compare_shapes(vertices, faces, vertices, faces, tau=0.0)
    with pytest.raises(ValueError, match="at least one face"):
        compare_shapes(vertices, faces[:0], vertices, faces)
