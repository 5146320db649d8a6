"""Differentiable marching cubes: scikit-image's surface, vertices differentiable in the SDF and the deformation."""

import numpy as np
import pytest
import torch

from backend.core.diffmc import backend_for, marching_cubes
from backend.core.isosurface import marching_cubes as skimage_surface


def sphere(resolution=20, radius=0.6):
    axis = torch.linspace(-1, 1, resolution)
    points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1)
    return points, points.norm(dim=-1) - radius


def test_without_deformation_it_is_scikit_images_surface_wound_outwards():
    _, sdf = sphere()
    vertices, faces = marching_cubes(sdf, None, (-1.0, 1.0))
    reference, _ = skimage_surface(sdf.numpy(), (-1.0, 1.0), 0.0, "negative")
    assert np.abs(vertices.numpy() - reference).max() < 1e-5
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    assert float((a * torch.cross(b, c, dim=1)).sum()) > 0, "positive signed volume: normals point out"
    assert vertices.norm(dim=1).sub(0.6).abs().max() < 0.02


def test_vertices_move_with_the_sdf_and_with_the_deformation_in_grid_cells():
    _, sdf = sphere()
    sdf = sdf.clone().requires_grad_(True)
    deform = torch.zeros(*sdf.shape, 3, requires_grad=True)
    vertices, _ = marching_cubes(sdf, deform, (-1.0, 1.0))
    vertices.norm(dim=1).sum().backward()
    assert sdf.grad.abs().sum() > 0 and deform.grad.abs().sum() > 0
    assert float(sdf.grad.sum()) < 0, "raising the SDF shrinks the sphere"
    with torch.no_grad():
        shifted, _ = marching_cubes(sdf, torch.full_like(deform, 0.5), (-1.0, 1.0))
    cell = 2.0 / (sdf.shape[0] - 1)
    assert torch.allclose(shifted, vertices.detach() + 0.5 * cell, atol=1e-5), "half a cell of deformation moves every vertex half a cell"


def test_a_field_with_no_crossing_gives_an_empty_mesh_and_cpu_uses_the_torch_path():
    vertices, faces = marching_cubes(torch.ones(8, 8, 8), None, (-1.0, 1.0))
    assert vertices.shape == (0, 3) and faces.shape == (0, 3)
    assert backend_for("cpu") == "torch"


@pytest.mark.gpu
def test_diso_matches_the_torch_path_on_cuda():
    pytest.importorskip("diso")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    _, sdf = sphere()
    deform = 0.2 * torch.randn(*sdf.shape, 3, generator=torch.Generator().manual_seed(0))
    ours, _ = marching_cubes(sdf, deform, (-1.0, 1.0), backend="torch")
    theirs, _ = marching_cubes(sdf.cuda(), deform.cuda(), (-1.0, 1.0), backend="diso")
    assert len(ours) == len(theirs)
    assert torch.allclose(ours.sort(0).values, theirs.cpu().sort(0).values, atol=1e-4)
