"""Chamfer distance and volume IoU on shapes with known answers."""

import numpy as np
import pytest
import trimesh

from backend.core.metrics import chamfer_distance, surface_samples, volume_iou


def test_chamfer_is_zero_for_the_same_points_and_the_offset_for_a_shift():
    points = np.random.default_rng(0).random((500, 3))
    assert chamfer_distance(points, points) == 0.0
    assert chamfer_distance(points, points + [0.001, 0, 0]) == pytest.approx(0.001, rel=1e-6)


def test_surface_samples_lie_on_the_mesh():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    samples = surface_samples(sphere.vertices, sphere.faces, 2000)
    assert samples.shape == (2000, 3) and np.allclose(np.linalg.norm(samples, axis=1), 0.5, atol=0.01)


def test_volume_iou_of_two_offset_cubes():
    def cube(offset):
        return lambda p: np.all(np.abs(p - [offset, 0, 0]) <= 0.5, axis=1)

    lo, hi = np.array([-1.0, -1.0, -1.0]), np.array([1.5, 1.0, 1.0])
    assert volume_iou(cube(0.0), cube(0.0), lo, hi, 50) == pytest.approx(1.0)
    assert volume_iou(cube(0.0), cube(0.5), lo, hi, 50) == pytest.approx(1 / 3, abs=0.02)  # overlap ½ of a cube, union 1½
    assert volume_iou(lambda p: np.zeros(len(p), bool), lambda p: np.zeros(len(p), bool), lo, hi, 10) == 0.0
