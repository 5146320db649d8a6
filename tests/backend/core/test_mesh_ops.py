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


def test_edge_topology_lists_each_edge_once_and_names_each_corners_outgoing_edge():
    from backend.core.mesh_ops import edge_topology

    faces = np.array([[0, 1, 2], [0, 2, 3], [3, 2, 4]])
    edges, corner_edges = edge_topology(faces, 5)
    assert edges.dtype == np.int32 and corner_edges.shape == (3, 3)
    assert len(edges) == 7 and len({tuple(sorted(e)) for e in edges.tolist()}) == 7, "a square split in two plus a triangle: 7 edges"
    for face, corner_edge in zip(faces, corner_edges):
        for corner in range(3):
            assert sorted(edges[corner_edge[corner]].tolist()) == sorted([face[corner], face[(corner + 1) % 3]])
