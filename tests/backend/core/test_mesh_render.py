import numpy as np
import torch
import trimesh

from backend.core import cameras
from backend.core.mesh_render import render_mesh, sample_texture


def test_sphere_render_depth_normals_and_mask():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    positions = torch.tensor(sphere.vertices, dtype=torch.float32)
    faces = torch.tensor(sphere.faces)
    c2w = cameras.spherical_to_c2w(torch.tensor(10.0), torch.tensor(40.0), torch.tensor(2.0))[None]
    out = render_mesh(positions, faces, c2w, 49.1, 64, 64, normals=positions / 0.5)
    mask = out.mask[0] > 0
    # the silhouette of a sphere of radius r at distance d subtends asin(r/d)
    focal = cameras.focal_from_fov(49.1, 64)
    expected_radius_px = focal * np.tan(np.arcsin(0.5 / 2.0))
    assert abs(mask.sum().item() / (np.pi * expected_radius_px**2) - 1) < 0.05
    assert abs(out.depth[0, 32, 32].item() - 1.5) < 0.01  # the nearest point is d − r away
    origins, directions = cameras.get_rays(c2w[0], 49.1, 64, 64)
    facing = (out.normals[0][mask] * -directions[mask]).sum(-1)
    assert (facing > -0.05).all()  # every visible normal faces the camera


def test_texture_sampling_orientation():
    texture = torch.zeros(2, 2, 3)
    texture[0, 1] = torch.tensor([1.0, 0.0, 0.0])  # top-right texel
    red = sample_texture(texture, torch.tensor([[0.75, 0.75]]))  # u right, v up → top-right
    assert torch.allclose(red, torch.tensor([[1.0, 0.0, 0.0]]))


def test_vertex_colours_reach_the_pixels():
    quad = torch.tensor([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    colors = torch.tensor([[0.2, 0.4, 0.6]] * 4)
    c2w = cameras.spherical_to_c2w(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(3.0))[None]
    out = render_mesh(quad, faces, c2w, 30.0, 16, 16, colors=colors)
    assert out.mask.all() and torch.allclose(out.rgb[0, 8, 8], colors[0])
