import math

import torch

from backend.core import cameras
from backend.core.raster import interpolate, rasterize_torch, to_clip

H, W = 24, 32


def ndc_to_pixel(x, y):
    return (x + 1) * 0.5 * W, (1 - y) * 0.5 * H


def inside(px, py, tri):
    (x0, y0), (x1, y1), (x2, y2) = tri
    d = [(x1 - x0) * (py - y0) - (y1 - y0) * (px - x0), (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1), (x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)]
    return all(v >= 0 for v in d) or all(v <= 0 for v in d)


def test_triangle_covers_exactly_the_pixels_whose_centres_are_inside():
    ndc = torch.tensor([[-0.8, -0.7, 0.1, 1.0], [0.9, -0.2, 0.2, 1.0], [-0.1, 0.85, 0.3, 1.0]])
    raster = rasterize_torch(ndc[None], torch.tensor([[0, 1, 2]]), H, W)
    tri_px = [ndc_to_pixel(x, y) for x, y, _, _ in ndc.tolist()]
    for v in range(H):
        for u in range(W):
            assert bool(raster.mask[0, v, u]) == inside(u + 0.5, v + 0.5, tri_px), (u, v)
    # barycentrics interpolate the vertices' screen positions to the pixel centres exactly
    screen = torch.tensor([[x, y] for x, y in tri_px])
    centres = interpolate(screen, raster, torch.tensor([[0, 1, 2]]))[0]
    v, u = torch.nonzero(raster.mask[0], as_tuple=True)
    assert torch.allclose(centres[v, u], torch.stack([u + 0.5, v + 0.5], dim=-1).float(), atol=1e-4)
    assert torch.allclose(raster.bary[0][raster.mask[0]].sum(-1), torch.ones(int(raster.mask.sum())), atol=1e-6)


def test_nearest_triangle_wins():
    quad = lambda z: [[-1.0, -1.0, z, 1.0], [1.0, -1.0, z, 1.0], [1.0, 1.0, z, 1.0], [-1.0, 1.0, z, 1.0]]  # noqa: E731
    clip = torch.tensor([quad(0.5) + quad(-0.2)])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    raster = rasterize_torch(clip, faces, H, W)
    assert raster.mask.all() and (raster.triangle >= 2).all()
    assert torch.allclose(raster.depth, torch.full((1, H, W), -0.2))


def test_perspective_correct_interpolation_on_a_tilted_plane():
    c2w = cameras.spherical_to_c2w(torch.tensor(25.0), torch.tensor(30.0), torch.tensor(2.0))[None]
    vertices = torch.tensor([[-1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]])  # the ground plane y = 0
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])
    raster = rasterize_torch(to_clip(vertices, c2w, 49.1, W, H), faces, H, W)
    positions = interpolate(vertices, raster, faces)[0]
    origins, directions = cameras.get_rays(c2w[0], 49.1, W, H)
    t = -origins[..., 1] / directions[..., 1]  # ray ∩ plane
    expected = origins + directions * t[..., None]
    mask = raster.mask[0]
    assert mask.sum() > 100
    assert torch.allclose(positions[mask], expected[mask], atol=1e-4)


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    clip = torch.tensor([[[-0.8, -0.7, 0.1, 1.2], [0.9, -0.2, 0.2, 0.9], [-0.1, 0.85, 0.3, 1.1]]], dtype=torch.float64, requires_grad=True)
    colors = torch.rand(3, 2, dtype=torch.float64, requires_grad=True)
    faces = torch.tensor([[0, 1, 2]])

    def image(clip, colors):
        raster = rasterize_torch(clip, faces, 12, 16)
        return interpolate(colors, raster, faces), raster.depth

    assert torch.autograd.gradcheck(image, (clip, colors), eps=1e-7, atol=1e-5)


def test_empty_and_behind_the_camera():
    clip = torch.tensor([[[-0.5, -0.5, 0.0, -1.0], [0.5, -0.5, 0.0, -1.0], [0.0, 0.5, 0.0, -1.0]]])
    raster = rasterize_torch(clip, torch.tensor([[0, 1, 2]]), H, W)
    assert not raster.mask.any() and (raster.triangle == -1).all()


def test_degenerate_triangles_cover_nothing():
    clip = torch.tensor([[[-0.5, -0.5, 0.0, 1.0], [0.5, 0.5, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]])  # collinear
    assert not rasterize_torch(clip, torch.tensor([[0, 1, 2], [0, 0, 1]]), H, W).mask.any()


def test_many_small_triangles_in_chunks_give_the_same_image():
    torch.manual_seed(1)
    vertices = torch.rand(300, 4) * 2 - 1
    vertices[:, 3] = 1.0
    faces = torch.randint(0, 300, (400, 3))
    one = rasterize_torch(vertices[None], faces, H, W)
    assert torch.isfinite(one.bary).all()
    many = rasterize_torch(vertices[None], faces, H, W, max_pairs=50)
    assert torch.equal(one.triangle, many.triangle) and torch.allclose(one.bary, many.bary)
    assert math.isfinite(float(one.depth.sum()))
