import json

import numpy as np
import pytest
import torch

from backend.core.frame import Frame
from backend.generators import GeneratorError, Latent, load
from backend.core.cameras import spherical_to_c2w
from backend.generators.latents import slerp
from backend.methods import generator_catalog
from backend.methods.cad.generator import (
    IDENTITY, SURFACE_DENSITY, WEIGHTS_FILE, CADGeneratorAsset, calibrate_surface_density, save_generator,
)
from backend.methods.cad.networks import CADGenerator

EXPORT = {"preview_resolution": 16, "full_resolution": 24, "texture_size": 32, "surface_density": 1.0}


@pytest.fixture
def saved(tiny_config, tmp_path):
    torch.manual_seed(0)
    model = CADGenerator(tiny_config.generator)
    frame = Frame((1.0, 2.0, 3.0), 0.5, 0.0)
    save_generator(tmp_path / "g", model, True, EXPORT, frame, {"family": "test"})
    return model, frame, tmp_path / "g"


def test_the_reference_elevation_is_saved_and_older_folders_read_as_zero(saved, tiny_config, tmp_path):
    model, frame, folder = saved
    assert load(str(folder), generator_catalog()).reference_elevation == 0.0, "a folder from before the field: 0°"
    save_generator(tmp_path / "high", model, True, EXPORT, frame, {}, reference_elevation=22.5)
    assert load(str(tmp_path / "high"), generator_catalog()).reference_elevation == 22.5
    description = json.loads((tmp_path / "high" / "generator.json").read_text())
    (tmp_path / "high" / "generator.json").write_text(json.dumps({**description, "reference_elevation": "up"}))
    with pytest.raises(GeneratorError, match="reference_elevation"):
        load(str(tmp_path / "high"), generator_catalog())


def test_a_saved_generator_loads_through_the_generator_registry_with_the_same_fields(saved):
    model, frame, folder = saved
    loaded = load(str(folder), generator_catalog())
    assert isinstance(loaded, CADGeneratorAsset) and loaded.frame == frame and loaded.surface_density == 1.0
    original = CADGeneratorAsset(model, True, EXPORT)
    latent = original.latent(3, 0.7).code
    assert np.allclose(latent, loaded.latent(3, 0.7).code, atol=1e-6) and latent.shape == (model.config.w_dim,)
    points = torch.rand(100, 3) - 0.5
    assert torch.allclose(original.fields(latent)[0](points), loaded.fields(latent)[0](points), atol=1e-5)


def test_meshes_come_out_in_the_familys_frame(saved):
    model, frame, _ = saved
    plain = CADGeneratorAsset(model, True, EXPORT)
    latent = plain.latent(0, 0.7)
    level = float(plain.fields(latent.code)[0](torch.rand(4000, 3) * 1.2 - 0.6).median())  # a level the field surely crosses
    plain.surface_density = level
    framed = CADGeneratorAsset(model, True, EXPORT, frame=frame)
    framed.surface_density = level
    inside, outside = plain.asset(latent, "preview").positions, framed.asset(latent, "preview").positions
    assert len(inside) > 0 and np.allclose(outside, frame.to_object(inside.astype(np.float64)), atol=1e-4)


def test_latents_may_be_w_or_w_plus_and_anything_else_is_a_clear_error(saved):
    model, _, folder = saved
    generator = load(str(folder), generator_catalog())
    w = generator.latent(0, 1.0).code
    assert generator.ws(w).shape == (1, model.num_ws, model.config.w_dim)
    assert generator.ws(np.stack([w] * model.num_ws)).shape == (1, model.num_ws, model.config.w_dim)
    with pytest.raises(GeneratorError, match="w \\("):
        generator.ws(np.zeros(5, np.float32))
    with pytest.raises(GeneratorError, match="quality"):
        generator.asset(Latent(w), "ultra")


def test_broken_generator_folders_are_readable_errors(saved):
    _, _, folder = saved
    description = json.loads((folder / "generator.json").read_text())
    (folder / "generator.json").write_text(json.dumps({**description, "generator": {"z_dim": "many"}}))
    with pytest.raises(GeneratorError, match="bad generator config"):
        load(str(folder), generator_catalog())
    (folder / "generator.json").write_text(json.dumps(description))
    (folder / WEIGHTS_FILE).write_bytes(b"truncated")
    with pytest.raises(GeneratorError, match="cannot load the weights"):
        load(str(folder), generator_catalog())
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(GeneratorError, match="cannot load the weights"):
        load(str(folder), generator_catalog())


def test_z_space_interpolation_follows_the_great_circle_between_the_seeds_z(saved):
    model, _, folder = saved
    generator = load(str(folder), generator_catalog())
    assert generator.spaces == ("w", "z")
    through_z = generator.between(0, 1, 0.4, 0.7, "z")
    expected = generator.w_of_z(slerp(generator.z(0), generator.z(1), 0.4), 0.7)
    assert np.allclose(through_z.code, expected, atol=1e-6) and through_z.condition is None
    line = generator.between(0, 1, 0.4, 0.7, "w").code
    assert np.allclose(line, 0.6 * generator.latent(0, 0.7).code + 0.4 * generator.latent(1, 0.7).code, atol=1e-6)
    assert IDENTITY.scale == 1.0


class BallGenerator:
    """Stands in for a CADGenerator in calibration: a ball of radius 0.4 and uniform density ``density``."""

    def __init__(self, tiny_config, density: float) -> None:
        self.config, self.density = tiny_config.generator, density

    def planes(self, ws, upsampled):
        return None

    def field(self, planes):
        def ball(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            inside = points.norm(dim=-1) < 0.4
            return torch.zeros(len(points), 3), inside.float() * self.density

        return ball


@pytest.mark.parametrize("density", [30.0, 0.6], ids=["opaque", "translucent"])
def test_the_calibrated_level_puts_the_surface_where_the_renders_show_the_object(tiny_config, density):
    """Opaque: rays through the ball render opacity ≈ 1. Translucent (a short run on a white object): at most
    1 − exp(−0.6 · 0.8) ≈ 0.38, never ½ — the level must still be one the ball's density crosses."""
    c2w = spherical_to_c2w(torch.tensor([0.0, 30.0]), torch.tensor([0.0, 90.0]), torch.full((2,), tiny_config.generator.radius))
    level = calibrate_surface_density(BallGenerator(tiny_config, density), None, c2w, True)
    assert 0 < level <= density


def test_renders_that_show_nothing_keep_the_default_level(tiny_config):
    c2w = spherical_to_c2w(torch.tensor([0.0]), torch.tensor([0.0]), torch.full((1,), tiny_config.generator.radius))
    assert calibrate_surface_density(BallGenerator(tiny_config, 1e-3), None, c2w, True) == SURFACE_DENSITY
