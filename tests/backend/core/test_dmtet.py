import math

import torch

from backend.core.dmtet import marching_tetrahedra, sdf_from_density, tet_grid


def mesh_area_volume(vertices, faces):
    a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
    cross = torch.linalg.cross(b - a, c - a)
    return float(cross.norm(dim=-1).sum() / 2), float((a * torch.linalg.cross(b, c)).sum() / 6)


def test_grid_sizes_and_coverage():
    vertices, tets = tet_grid(4, scale=2.0)
    assert vertices.shape == (125, 3) and tets.shape == (6 * 64, 4)
    a, b, c, d = (vertices[tets[:, i]] for i in range(4))
    volume = (torch.linalg.cross(b - a, c - a) * (d - a)).sum(-1).abs() / 6
    assert torch.allclose(volume.sum(), torch.tensor(8.0)) and (volume > 0).all()  # tiles the cube, no degenerate tets
    assert vertices.min() == -1.0 and vertices.max() == 1.0


def test_sphere_is_closed_outward_and_close_to_analytic():
    vertices, tets = tet_grid(48, scale=1.4)
    radius = 0.45
    surface, faces = marching_tetrahedra(vertices, tets, vertices.norm(dim=-1) - radius)
    area, volume = mesh_area_volume(surface.double(), faces)
    assert abs(area / (4 * math.pi * radius**2) - 1) < 0.03
    assert abs(volume / (4 / 3 * math.pi * radius**3) - 1) < 0.02  # positive: triangles face outwards
    edges = torch.sort(torch.cat([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), dim=1).values
    _, counts = torch.unique(edges, dim=0, return_counts=True)
    assert (counts == 2).all()  # watertight
    assert (surface.norm(dim=-1) - radius).abs().max() < 0.01


def test_vertices_follow_the_sdf_differentiably():
    vertices, tets = tet_grid(3, scale=2.0)
    sdf = (vertices.norm(dim=-1) - 0.6).double().requires_grad_(True)

    def surface(values):
        return marching_tetrahedra(vertices.double(), tets, values)[0]

    assert torch.autograd.gradcheck(surface, (sdf,), eps=1e-7, atol=1e-5)


def test_density_threshold_becomes_the_zero_level():
    density = torch.tensor([0.0, 5.0, 30.0])
    assert torch.equal(sdf_from_density(density, 10.0) < 0, density > 10.0)


def test_no_crossing_gives_an_empty_mesh():
    vertices, tets = tet_grid(2)
    surface, faces = marching_tetrahedra(vertices, tets, torch.ones(vertices.shape[0]))
    assert surface.shape == (0, 3) and faces.shape == (0, 3)
