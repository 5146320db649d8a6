"""Stage 1's reference view at each stage's resolution, and its progress previews."""

import numpy as np
import torch

from backend.methods.dtc123.coarse import Reference


def test_a_resized_reference_keeps_the_objects_depth_on_its_silhouette():
    """Downsizing mixes object and background in silhouette pixels: the colour and mask are area-averaged, but the depth
    must stay the object's (the Pearson term reads it wherever the mask passes 0.5), not fall towards the background's 0."""
    generator = torch.Generator().manual_seed(0)
    size = 64
    mask = torch.zeros(size, size)
    mask[:, : size // 2 + 1] = 1.0  # the object ends one pixel into the right half: each 2×2 block there is half covered
    depth = (1.0 + torch.rand(size, size, generator=generator)) * mask
    reference = Reference(torch.ones(3, size, size), mask, 0.0, depth).resized(size // 2)
    edge = reference.mask > 0.25
    assert torch.allclose(reference.mask[:, size // 4], torch.full((size // 2,), 0.5), atol=0.05), "the silhouette column is half covered"
    assert float(reference.depth[edge].min()) >= 1.0 - 1e-4, "silhouette pixels keep a depth within the object's [1, 2]"
    assert float(reference.depth[reference.mask < 1e-3].abs().max()) < 1e-6, "empty pixels stay empty"


def test_the_depth_the_pearson_term_reads_is_along_the_viewing_axis():
    """A wall facing the camera is at one depth along the viewing axis — the reference depth's convention (a rasteriser's
    z, a depth model's map) — while its ray distance grows towards the image's corners; the Pearson term must compare the former."""
    from backend.core.cameras import get_rays, spherical_to_c2w
    from backend.methods.dtc123.coarse import View

    c2w = spherical_to_c2w(torch.tensor([20.0]), torch.tensor([30.0]), torch.tensor([2.0]))[0]
    origins, directions = get_rays(c2w, 49.1, 16, 16)
    forward = -c2w[:3, 2]
    wall = 1.5  # the plane {x : (x − o)·forward = 1.5}
    ray_distance = wall / (directions * forward).sum(dim=-1)
    view = View(torch.ones(1, 3, 16, 16), torch.ones(16, 16), ray_distance, origins, directions, forward)
    assert float(ray_distance.max() - ray_distance.min()) > 0.05, "the ray distance varies over the wall"
    assert torch.allclose(view.axial_depth, torch.full((16, 16), wall), atol=1e-5)


def test_the_preview_renders_at_its_own_resolution_and_shows_each_view_at_256_pixels(monkeypatch):
    """The student is rendered at coarse.preview_resolution (not the training resolution) and shown, like the reference
    at its own size, at 256²."""
    from backend.methods import get
    from backend.methods.configs import resolve
    from backend.methods.dtc123 import coarse
    from backend.methods.dtc123.field import CoarseField

    config = resolve(get("dtc123"), "tiny", {"coarse.preview_resolution": 24})[1]
    original, rendered = coarse.render_view, []

    def spy(field, pose, config, resolution, *args, **kwargs):
        rendered.append(resolution)
        return original(field, pose, config, resolution, *args, **kwargs)

    monkeypatch.setattr(coarse, "render_view", spy)
    torch.manual_seed(0)
    red = Reference(torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 64, 64), torch.ones(64, 64), 0.0)
    image = coarse.preview_image(CoarseField(config.field), red, config, 10)
    assert rendered == [24] and config.coarse.resolution == 32
    assert image.shape == (256, 512, 3), "the reference beside the student, 256² each"
    assert np.allclose(image[:, :256], (1.0, 0.0, 0.0), atol=1e-5)
