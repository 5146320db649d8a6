"""The losses' defining properties."""

import pytest
import torch

from backend.core.volume import density_normals
from backend.methods.dtc123.losses import normal_consistency, pearson_depth_loss


def test_pearson_depth_ignores_scale_and_shift_but_not_shape():
    depth = torch.rand(16, 16)
    mask = torch.ones(16, 16, dtype=torch.bool)
    assert float(pearson_depth_loss(depth, 3 * depth + 2, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(pearson_depth_loss(depth, -depth, mask)) == pytest.approx(2.0, abs=1e-6)
    assert 0.5 < float(pearson_depth_loss(depth, torch.rand(16, 16), mask)) < 1.5

def _plane_field(points):
    """A density falling off across the plane z = 0.1 (normals +z everywhere)."""
    return torch.zeros_like(points), torch.nn.functional.softplus(20.0 * (0.1 - points[:, 2]))


def _bumpy_field(points):
    """The plane with a rippled surface."""
    ripple = 0.05 * torch.sin(25.0 * points[:, 0]) * torch.cos(19.0 * points[:, 1])
    return torch.zeros_like(points), torch.nn.functional.softplus(20.0 * (0.1 + ripple - points[:, 2]))


def test_eq_10_is_zero_for_constant_normals_and_positive_for_a_rippled_surface():
    points = torch.rand(256, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    points[:, 2] = 0.1
    weights = torch.ones(256)

    def loss(field):
        normals = lambda p: density_normals(field, p, "finite_difference", 1e-3)  # noqa: E731
        return float(normal_consistency(normals, points, weights, 0.01, torch.Generator().manual_seed(1)))

    assert loss(_plane_field) < 1e-5, "a plane's normals are the same at every point"
    assert loss(_bumpy_field) > 0.05


def test_eq_10_is_the_weighted_l1_of_normal_differences_at_perturbed_points():
    points = torch.randn(64, 3, generator=torch.Generator().manual_seed(2))
    weights = torch.rand(64, generator=torch.Generator().manual_seed(3))
    normals = lambda p: torch.nn.functional.normalize(p, dim=-1)  # noqa: E731 - a sphere's normals
    beta = 0.3
    perturbed = points + beta * torch.randn(64, 3, generator=torch.Generator().manual_seed(4))
    expected = (weights * (normals(points) - normals(perturbed)).abs().sum(-1)).sum() / weights.sum()
    assert float(normal_consistency(normals, points, weights, beta, torch.Generator().manual_seed(4))) == pytest.approx(float(expected), rel=1e-5)
    assert float(normal_consistency(normals, points[:0], weights[:0], beta)) == 0.0, "no surface, no loss"


def test_eq_10_moves_the_field_not_the_points():
    points = torch.rand(32, 3, generator=torch.Generator().manual_seed(5)).requires_grad_(True)
    scale = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    normals = lambda p: torch.nn.functional.normalize(p * scale, dim=-1)  # noqa: E731
    normal_consistency(normals, points, torch.ones(32), 0.1, torch.Generator().manual_seed(6)).backward()
    assert points.grad is None and scale.grad is not None and scale.grad.abs().sum() > 0
