"""The losses' defining properties."""

import pytest
import torch

from backend.core.cameras import ray_directions
from backend.methods.dtc123.losses import normal_smoothness, normals_from_depth, pearson_depth_loss

def test_pearson_depth_ignores_scale_and_shift_but_not_shape():
    depth = torch.rand(16, 16)
    mask = torch.ones(16, 16, dtype=torch.bool)
    assert float(pearson_depth_loss(depth, 3 * depth + 2, mask)) == pytest.approx(0.0, abs=1e-6)
    assert float(pearson_depth_loss(depth, -depth, mask)) == pytest.approx(2.0, abs=1e-6)
    assert 0.5 < float(pearson_depth_loss(depth, torch.rand(16, 16), mask)) < 1.5

def test_a_flat_wall_has_one_normal_and_no_smoothness_penalty_while_a_bumpy_one_does():
    directions = ray_directions(60.0, 24, 24)
    wall = 2.0 / -directions[..., 2]  # the plane z = −2 seen from the origin
    normals = normals_from_depth(wall, directions)
    assert torch.allclose(normals, torch.tensor([0.0, 0.0, 1.0]).expand_as(normals), atol=1e-4)
    opacity = torch.ones(24, 24)
    assert float(normal_smoothness(wall, directions, opacity)) < 1e-6
    bumpy = wall + 0.05 * torch.rand(24, 24, generator=torch.Generator().manual_seed(0))
    assert float(normal_smoothness(bumpy, directions, opacity)) > 1e-3
    assert float(normal_smoothness(bumpy, directions, torch.zeros(24, 24))) == 0.0, "empty pixels do not count"
