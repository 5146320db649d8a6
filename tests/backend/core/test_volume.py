import math

import pytest
import torch
import torch.nn.functional as F

from backend.core.volume import composite, density_normals, ray_box, render_rays, stratified, uniform

BOX = (-1.0, 1.0)


def constant(sigma):
    return lambda x: (torch.ones(x.shape[0], 3, dtype=x.dtype) * 0.5, torch.full((x.shape[0],), sigma, dtype=x.dtype))


@pytest.mark.parametrize("direction", [(0.0, 0.0, -1.0), (0.3, -0.2, -1.0)])
@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_constant_density_gives_the_exact_opacity(direction, sigma):
    origins = torch.tensor([[0.0, 0.0, 3.0]], dtype=torch.float64)
    directions = F.normalize(torch.tensor([direction], dtype=torch.float64), dim=-1)
    near, far, hit = ray_box(origins, directions, *BOX)
    length = float(far - near)
    assert hit.all() and length > 1.0
    out = render_rays(constant(sigma), origins, directions, box=BOX, coarse=17, fine=23, perturb=True)
    assert out.opacity.item() == pytest.approx(1 - math.exp(-sigma * length), rel=1e-7)
    assert out.rgb[0].tolist() == pytest.approx([0.5 * out.opacity.item()] * 3, rel=1e-7)


def sphere_field(radius=0.5, sigma=200.0):
    def field(x):
        inside = torch.sigmoid((radius - x.norm(dim=-1)) * 400.0)
        rgb = torch.stack([x[:, 0] * 0 + 1.0, x[:, 1] * 0, x[:, 2] * 0], dim=-1)
        return rgb, sigma * inside
    return field


def test_opaque_sphere_depth_and_normals():
    origins = torch.tensor([[0.0, 0.0, 3.0], [0.2, 0.1, 3.0], [0.9, 0.0, 3.0]])
    directions = torch.tensor([[0.0, 0.0, -1.0]] * 3)
    out = render_rays(sphere_field(), origins, directions, box=BOX, coarse=64, fine=64, perturb=False, normals="autograd",
                      background=torch.tensor([0.0, 0.0, 1.0]))
    hit_z = torch.sqrt(0.25 - origins[:2, 0] ** 2 - origins[:2, 1] ** 2)
    assert torch.allclose(out.depth[:2], 3.0 - hit_z, atol=0.02)
    assert torch.allclose(out.opacity[:2], torch.ones(2), atol=1e-3) and out.opacity[2] < 1e-3
    assert torch.allclose(out.rgb[2], torch.tensor([0.0, 0.0, 1.0]), atol=1e-3)  # background where nothing is hit
    surface = origins[:2] + directions[:2] * out.depth[:2, None]
    assert torch.allclose(out.normals[:2], F.normalize(surface, dim=-1), atol=0.05)


def test_finite_difference_normals_agree_with_autograd():
    points = F.normalize(torch.randn(16, 3), dim=-1) * 0.5
    field = sphere_field()
    autograd = density_normals(field, points, "autograd")
    finite = density_normals(field, points, "finite_difference", epsilon=1e-4)
    assert torch.allclose(autograd, finite, atol=1e-2)
    assert torch.allclose(autograd, F.normalize(points, dim=-1), atol=1e-3)


def test_composite_gradients_match_finite_differences():
    torch.manual_seed(0)
    t = torch.sort(torch.rand(3, 7, dtype=torch.float64) * 2, dim=-1).values
    near, far = torch.zeros(3, dtype=torch.float64), torch.full((3,), 2.0, dtype=torch.float64)
    rgb = torch.rand(3, 7, 3, dtype=torch.float64, requires_grad=True)
    density = (torch.rand(3, 7, dtype=torch.float64) * 3).requires_grad_(True)

    def outputs(rgb, density):
        out = composite(rgb, density, t, near, far, torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64))
        return out.rgb, out.opacity, out.depth

    assert torch.autograd.gradcheck(outputs, (rgb, density), eps=1e-6, atol=1e-5)


def test_render_gradients_reach_the_field():
    weight = torch.tensor(2.0, requires_grad=True)
    field = lambda x: (torch.sigmoid(x * weight), weight * torch.ones(x.shape[0]))  # noqa: E731
    out = render_rays(field, torch.tensor([[0.0, 0.0, 3.0]]), torch.tensor([[0.0, 0.0, -1.0]]), box=BOX, coarse=8, fine=8)
    out.rgb.sum().backward()
    assert weight.grad is not None and weight.grad.abs() > 0


def test_stratified_samples_stay_in_their_bins():
    near, far = torch.tensor([1.0]), torch.tensor([3.0])
    t = stratified(near, far, 4, perturb=True)
    bins = torch.tensor([[1.0, 1.5, 2.0, 2.5, 3.0]])
    assert ((t >= bins[:, :-1]) & (t <= bins[:, 1:])).all()


def test_uniform_draws_on_the_generators_device_and_returns_the_tensors_dtype():
    like = torch.zeros(1, dtype=torch.float64)
    first = uniform((4, 3), like, torch.Generator().manual_seed(5))
    again = uniform((4, 3), like, torch.Generator().manual_seed(5))
    assert first.dtype == torch.float64 and first.shape == (4, 3) and torch.equal(first, again)
    assert ((first >= 0) & (first < 1)).all() and first.std() > 0
