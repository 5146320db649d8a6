import numpy as np
import trimesh

from backend.core.mesh_ops import winding_number


def test_winding_number_separates_inside_from_outside():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    points = np.array([[0.0, 0.0, 0.0], [0.3, 0.1, -0.2], [0.6, 0.0, 0.0], [2.0, 2.0, 2.0]])
    winding = winding_number(points, np.asarray(sphere.vertices), np.asarray(sphere.faces), chunk=1000)
    assert np.allclose(winding, [1.0, 1.0, 0.0, 0.0], atol=1e-6)
    inverted = winding_number(points, np.asarray(sphere.vertices), np.asarray(sphere.faces)[:, ::-1])
    assert np.allclose(inverted[:2], -1.0, atol=1e-6)
    open_mesh = np.asarray(sphere.faces)[5:]  # a few faces missing: still ≈ 1 deep inside
    assert winding_number(points[:1], np.asarray(sphere.vertices), open_mesh)[0] > 0.9
