"""Stage 2's renders: each teacher's gradient reaches only its part of the student (Eq. 4's split)."""

import math

import numpy as np
import torch
import trimesh

from backend.methods.dtc123.config import DTC123Config, FieldConfig, FineConfig
from backend.methods.dtc123.field import CoarseField
from backend.methods.dtc123.coarse import Reference
from backend.methods.dtc123.fine import initial_geometry, render_surface
from backend.methods.dtc123.tetmesh import TetGeometry
from tests.support.fields import RadialDensity


def _student():
    torch.manual_seed(0)
    field = CoarseField(FieldConfig(levels=4, log2_table_size=10, max_resolution=64, hidden=16))
    geometry = TetGeometry(16, half_side=1.0, max_deformation=0.5)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    geometry.fit_surface(np.asarray(sphere.vertices, np.float32), np.asarray(sphere.faces), lambda p: p.norm(dim=-1) < 0.5)
    return field, geometry


def _grads(module):
    return [p.grad for p in module.parameters() if p.grad is not None and p.grad.abs().sum() > 0]


def test_the_shading_shapes_the_geometry_and_the_colours_colour_the_field():
    field, geometry = _student()
    positions, faces = geometry.mesh()
    view = render_surface(positions, faces, field, (20.0, 30.0, 2.0), 49.1, 32)
    assert view.mask.sum() > 50 and view.rgb.shape == view.shading.shape == (1, 3, 32, 32)
    assert torch.all(view.shading[0, :, view.mask == 0] == 1.0), "white where there is no surface"
    view.shading.square().sum().backward(retain_graph=True)
    assert _grads(geometry) and not _grads(field), "textureless shading reaches the SDF/offsets only"
    geometry.zero_grad()
    view.rgb.square().sum().backward()
    assert _grads(field) and not _grads(geometry), "the coloured render reaches the colour field only"


def test_the_depth_is_the_distance_along_the_view_axis():
    field, geometry = _student()
    positions, faces = geometry.mesh()
    view = render_surface(positions.detach(), faces, field, (0.0, 0.0, 2.0), 30.0, 33)
    assert abs(float(view.depth[16, 16]) - 1.5) < 0.05, "a sphere of radius 0.5 seen from 2 units away: nearest point at 1.5"


def test_the_mask_loss_moves_the_silhouette():
    """The reference mask loss has a gradient in the SDF and offsets (the antialiased coverage) and fits a larger
    silhouette in a few steps."""
    from backend.core.cameras import spherical_to_c2w
    from backend.core.raster import rasterize, to_clip

    field, geometry = _student()
    pose = (0.0, 0.0, 2.0)
    bigger = trimesh.creation.icosphere(subdivisions=3, radius=0.56)
    c2w = spherical_to_c2w(*(torch.tensor([value]) for value in pose))
    target = rasterize(to_clip(torch.tensor(bigger.vertices, dtype=torch.float32), c2w, 49.1, 32, 32), torch.tensor(bigger.faces), 32, 32).mask[0].float()
    optimizer = torch.optim.Adam(geometry.parameters(), lr=0.05)
    losses = []
    for step in range(8):
        positions, faces = geometry.mesh()
        loss = torch.nn.functional.mse_loss(render_surface(positions, faces, field, pose, 49.1, 32, antialiased_mask=True).mask, target)
        optimizer.zero_grad()
        loss.backward()
        if step == 0:
            assert geometry.sdf.grad.abs().sum() > 0 and geometry.deformation.grad.abs().sum() > 0
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_only_the_antialiased_mask_has_a_gradient_in_the_geometry():
    """The teachers' views render the hard coverage (no edge pass); the reference view asks for the antialiased one."""
    field, geometry = _student()
    positions, faces = geometry.mesh()
    hard = render_surface(positions, faces, field, (0.0, 0.0, 2.0), 49.1, 32)
    soft = render_surface(positions, faces, field, (0.0, 0.0, 2.0), 49.1, 32, antialiased_mask=True)
    assert set(hard.mask.unique().tolist()) <= {0.0, 1.0} and not hard.mask.requires_grad
    assert soft.mask.requires_grad and ((soft.mask > 0) & (soft.mask < 1)).any(), "fractional coverage on the silhouette"


def _shell() -> RadialDensity:
    """A stage-1 field that models a ball of radius 0.5 as an opaque shell 0.1 thick (hollow inside)."""
    return RadialDensity(lambda radius: torch.where((radius > 0.4) & (radius < 0.5), 100.0, 0.0))


def test_the_first_dmtet_fills_a_hollow_stage1_shell():
    """Stage 1's surface of a shell has an outer and an inner wall; the DMTet it starts stage 2 from is the solid ball:
    one surface of the outer sphere's area, its centre inside."""
    outer = trimesh.creation.icosphere(subdivisions=4, radius=0.5)
    inner = trimesh.creation.icosphere(subdivisions=4, radius=0.4)
    inner.invert()
    walls = trimesh.util.concatenate([outer, inner])
    config = DTC123Config(fine=FineConfig(grid_resolutions=(32,), raster_resolutions=(64,)))
    geometry = initial_geometry(_shell(), (np.asarray(walls.vertices, np.float32), np.asarray(walls.faces)), config.iso_density, config)
    positions, faces = geometry.mesh()
    area = trimesh.Trimesh(positions.detach().numpy(), faces.numpy()).area
    assert abs(area / (4 * math.pi * 0.5**2) - 1) < 0.1, f"area {area:.3f}: the hollow's inner wall is gone"
    assert float(geometry.sample(geometry.sdf.detach()[:, None], torch.zeros(1, 3))) < 0, "the centre is inside"


def test_the_preview_shows_four_views_of_256_pixels_in_a_2x2_grid():
    """Whatever the stage's raster resolution: the reference, the coloured surface, its shading and the far side."""
    from backend.methods.dtc123.fine import FineStudent, preview_image

    field, geometry = _student()
    red = torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 48, 48)
    image = preview_image(FineStudent(geometry, field), Reference(red, torch.ones(48, 48), 0.0), DTC123Config(), 0)
    assert image.shape == (512, 512, 3)
    reference, colour, shading, back = (image[r : r + 256, c : c + 256] for r in (0, 256) for c in (0, 256))
    assert np.allclose(reference, (1.0, 0.0, 0.0), atol=1e-5)
    assert (shading < 0.99).any() and np.allclose(shading[..., 0], shading[..., 2], atol=1e-5), "grey shading of a visible surface"
    assert (colour < 0.99).any() and (back < 0.99).any()
