"""PRD as a generator kind: seeds give variants, noise interpolates on the great circle and prompts linearly, meshes at both
qualities, the folder round trip, loud errors."""

import json

import numpy as np
import pytest
import torch

from backend.generators import GeneratorError, load
from backend.methods import generator_catalog
from backend.methods.prd.config import InferenceConfig
from backend.methods.prd.generator import PRDGenerator, save_generator

from .conftest import TINY

FAST = InferenceConfig(mesh_resolution=32, preview_resolution=24, texture_size=64)


@pytest.fixture
def folder(tiny_student, tiny_base, tmp_path):
    student, _ = tiny_student
    with torch.no_grad():  # a student that is not its base: random adapters everywhere
        for parameter in student.trainable_parameters():
            parameter.normal_(std=0.05)
    save_generator(tmp_path / "g", student, FAST, tiny_base, {"made_by": "a test"})
    return tmp_path / "g"


def test_seeds_prompts_and_interpolation(folder):
    generator = load(str(folder), generator_catalog())
    assert isinstance(generator, PRDGenerator) and generator.conditional and generator.spaces == ("noise",)
    red, blue = generator.condition("a red cube"), generator.condition("a blue torus")
    assert red.shape == (77, 32) and not np.allclose(red, blue)
    a, b = generator.latent(0, 0.7, red), generator.latent(1, 0.7, blue)
    assert a.code.shape == (6, 4, 8, 8) and not np.allclose(a.code, b.code)
    assert np.array_equal(generator.latent(0, 0.2, red).code, a.code), "PRD has no truncation"
    middle = generator.mix(a, b, 0.5)
    assert np.isclose(np.linalg.norm(middle.code), np.linalg.norm(a.code), rtol=0.05), "slerp keeps the noise's norm"
    assert np.allclose(middle.condition, (red + blue) / 2)
    assert np.allclose(generator.mix(a, b, 0.0).code, a.code) and np.allclose(generator.mix(a, b, 1.0).code, b.code)
    with pytest.raises(GeneratorError, match="prompt"):
        generator.latent(0, 1.0)
    with pytest.raises(GeneratorError, match="give one"):
        generator.condition("  ")


def test_meshes_at_both_qualities_and_the_same_mesh_after_a_round_trip(folder):
    generator = load(str(folder), generator_catalog())
    latent = generator.latent(3, 1.0, generator.condition("a red cube"))
    preview = generator.asset(latent, "preview")
    full = generator.asset(latent, "full")
    assert len(preview.faces) > 0 and preview.colors is not None and preview.texture is None
    assert full.texture is not None and full.uvs is not None and full.texture.shape[0] == FAST.texture_size
    assert np.abs(preview.positions).max() <= 1.0 + 1e-3 and full.to_glb()[:4] == b"glTF"
    again = load(str(folder), generator_catalog()).asset(latent, "preview")
    assert np.array_equal(again.positions, preview.positions)
    with pytest.raises(GeneratorError, match="plane noise"):
        generator.asset(type(latent)(np.zeros(5, np.float32), latent.condition), "preview")


def test_a_folder_with_missing_or_mismatched_weights_is_a_readable_error(folder):
    (folder / "student.safetensors").write_bytes(b"junk")
    with pytest.raises(GeneratorError, match="cannot load the student's weights"):
        load(str(folder), generator_catalog())
    description = json.loads((folder / "generator.json").read_text())
    description["base"] = str(folder / "nowhere")
    (folder / "generator.json").write_text(json.dumps(description))
    with pytest.raises(GeneratorError, match="base models"):
        load(str(folder), generator_catalog())
    assert TINY.base == "tiny"


def test_a_prd_job_takes_a_generator_folder_as_its_weights_and_names_a_generator_for_later_jobs(folder, tmp_path):
    from backend.methods.base import JobContext, JobInputs
    from backend.methods.configs import resolve
    from backend.methods.prd.pipeline import PRDMethod
    from backend.methods.progress import ProgressReporter
    from backend.methods import get

    _, config = resolve(get("prd"), "paper", {"weights": str(folder), "inference.mesh_resolution": 24, "inference.texture_size": 64})
    context = JobContext("job-1", "cpu", tmp_path / "work", ProgressReporter(lambda *a: None), tmp_path / "generator", generator_catalog())
    result = PRDMethod().run(JobInputs("a red cube", "", 5, None, None), config, context)
    assert result.metadata["generator"] == str(folder) and result.arrays["latent"].shape == (6, 4, 8, 8)
    assert result.arrays["condition"].shape == (77, 32) and "mesh.glb" in result.files


def test_only_jobs_that_need_stable_diffusion_ask_the_registry_for_it(folder):
    from backend.methods import get
    from backend.methods.configs import resolve

    needs = lambda params: resolve(get("prd"), "paper", params)[1].required_models()  # noqa: E731
    assert needs({}) == ("stable_diffusion", "prd_student")
    assert needs({"weights": "/models/triplane_turbo_sd_v1.pth"}) == ("stable_diffusion",)
    assert needs({"weights": str(folder)}) == () and needs({"generator": "job-1"}) == () and needs({"student.base": "tiny"}) == ()
