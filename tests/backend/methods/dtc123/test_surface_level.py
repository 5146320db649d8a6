"""The stage-1 surface level calibrated on the reference silhouette."""

import numpy as np
import torch

from backend.methods.dtc123.coarse import Reference
from backend.methods.dtc123.config import DTC123Config
from backend.methods.dtc123.pipeline import choose_surface_level, stage1_surface
from backend.methods.dtc123.surface_level import candidate_levels, ray_max_density, reference_level, silhouette_ious
from tests.support.fields import RadialDensity

CORE, FOG = 0.3, 0.5
"""Radii of a dense core (density 60) wrapped in a light fog (density 2): what SDS leaves where the teacher sees little."""


def _foggy_ball() -> RadialDensity:
    """A stage-1 field: density 60 inside radius :data:`CORE`, 2 out to :data:`FOG`, 0 beyond."""
    return RadialDensity(lambda radius: torch.where(radius < CORE, 60.0, torch.where(radius < FOG, 2.0, 0.0)))


def _reference(radius: float, config: DTC123Config, size: int = 48) -> Reference:
    """A reference whose mask is the silhouette of a solid ball of ``radius`` at the reference camera (elevation 20°)."""
    ball = RadialDensity(lambda distance: torch.where(distance < radius, 100.0, 0.0))
    mask = (ray_max_density(ball, (20.0, 0.0, config.cameras.radius), config, size) > 50).float()
    return Reference(rgb=torch.ones(3, size, size), mask=mask, elevation=20.0)


def test_silhouette_iou_counts_the_rays_reaching_each_level():
    generator = torch.Generator().manual_seed(0)
    max_density, mask = 20 * torch.rand(16, 16, generator=generator), torch.rand(16, 16, generator=generator)
    levels = candidate_levels(10.0)
    ious = silhouette_ious(max_density, mask, levels)
    for level, iou in zip(levels.tolist(), ious.tolist()):
        covered, inside = max_density.numpy() >= level, mask.numpy() > 0.5
        assert iou == np.sum(covered & inside) / np.sum(covered | inside)
    assert float(silhouette_ious(torch.zeros(4, 4), torch.zeros(4, 4), levels[:1])[0]) == 1.0, "nothing to cover, nothing missed"
    assert levels[0] * 8 == levels[len(levels) // 2] == levels[-1] / 8


def test_the_level_keeps_the_fog_the_reference_shows_and_drops_the_fog_it_does_not():
    config = DTC123Config(export_resolution=48)
    field = _foggy_ball()
    shows_the_fog = reference_level(field, _reference(FOG, config), config)
    assert shows_the_fog.level <= 2.0 and shows_the_fog.silhouette_iou > 0.9 > shows_the_fog.fixed_iou
    vertices, _ = stage1_surface(field, config, shows_the_fog.level, decimate=False)
    assert abs(np.linalg.norm(vertices, axis=1).mean() - FOG) < 0.05, "the surface is the fog's"
    core_only = reference_level(field, _reference(CORE, config), config)
    assert core_only.level > 2.0 and core_only.silhouette_iou > 0.9
    vertices, _ = stage1_surface(field, config, core_only.level, decimate=False)
    assert abs(np.linalg.norm(vertices, axis=1).mean() - CORE) < 0.05, "the surface is the core's"


def test_a_fixed_level_is_the_configured_one():
    config = DTC123Config(surface_level="fixed", iso_density=7.0)
    logs: list[str] = []
    assert choose_surface_level(_foggy_ball(), _reference(FOG, config), config, logs.append) == 7.0 and not logs
    chosen = choose_surface_level(_foggy_ball(), _reference(FOG, DTC123Config()), DTC123Config(), logs.append)
    assert chosen <= 2.0 and "reference silhouette" in logs[-1]
