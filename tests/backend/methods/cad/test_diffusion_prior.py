"""The real prior path — Zero123 samples, DeepFloyd IF refinement, CLIP pruning — on tiny random-weight models of the real layouts."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from backend.methods import get
from backend.methods.base import JobContext, JobInputs, MethodError
from backend.methods.cad.config import CADConfig, PriorSamplingConfig
from backend.methods.cad.diffusion_prior import ControlNetRefiner, DiffusionSampler
from backend.methods.cad.pipeline import ELEVATION_FILE, CADMethod, settled_elevation
from backend.methods.configs import resolve
from backend.methods.progress import ProgressReporter
from backend.teachers import controlnet_depth, deepfloyd_if, depth, registry, zero123
from protocol.messages import Camera
from tests.backend.teachers import tiny_models
from tests.backend.teachers.test_clip import write_tiny_clip


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "zero123": tiny_models.zero123(root / "zero123"),
        "deepfloyd_if_stage1": tiny_models.if_stage1(root / "if1"),
        "deepfloyd_if_stage2": tiny_models.if_stage2(root / "if2"),
        "clip": write_tiny_clip(root / "clip"),
        "controlnet_depth": tiny_models.controlnet(root / "controlnet"),
        "controlnet_base": tiny_models.stable_diffusion(root / "sd15"),
        "depth": tiny_models.dpt(root / "dpt"),
    }


@pytest.fixture
def registry_env(folders, monkeypatch):
    for role, folder in folders.items():
        monkeypatch.setenv(registry.ROLE_ENV_PREFIX + role.upper(), str(folder))


def reference_image() -> Image.Image:
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[16:48, 20:44] = (200, 60, 40, 255)
    return Image.fromarray(rgba, "RGBA")


def test_n_zero123_samples_per_pose_are_drawn_for_pruning_and_the_kept_one_refined_for_the_cache(registry_env):
    sampler = DiffusionSampler(zero123.load(), deepfloyd_if.load(), torch.full((3, 32, 32), 0.5), 10.0, "a red box", "", 32, steps=2)
    config = PriorSamplingConfig(samples_per_pose=2)
    first = sampler.draw(torch.tensor([20.0, 40.0, 2.0]), config, torch.Generator().manual_seed(0))
    again = sampler.draw(torch.tensor([20.0, 40.0, 2.0]), config, torch.Generator().manual_seed(0))
    assert first.images.shape[:2] == (2, 3) and 0 <= float(first.images.min()) and float(first.images.max()) <= 1
    assert torch.allclose(first.images, again.images, atol=1e-5) and not torch.allclose(first.images[0], first.images[1])
    assert [label.value for label in first.labels] == ["good", "good"], "the truth of a diffusion sample is unknown"
    refined = sampler.refine(first.images[0], torch.tensor([20.0, 40.0, 2.0]), torch.Generator().manual_seed(0))
    assert refined.shape == (3, 32, 32) and torch.isfinite(refined).all() and 0 <= float(refined.min()) and float(refined.max()) <= 1


def recording_prompts(teacher, seen):
    """Wrap ``teacher``'s text encoder so the prompts it is fed land in ``seen``."""
    encode = teacher.prompts

    def record(prompts):
        seen.extend(prompts)
        return encode(prompts)

    teacher.prompts = record


@pytest.mark.parametrize(("azimuth", "view"), [(180.0, "front"), (150.0, "front"), (0.0, "back"), (-90.0, "side"), (90.0, "side")])
def test_the_refiner_prompts_the_references_own_side_as_the_front(registry_env, azimuth, view):
    """CAD's reference sits at azimuth 180°: a sample there shows the input image's side, so IF is told ', front view'."""
    refiner = deepfloyd_if.load()
    seen = []
    recording_prompts(refiner.stage1, seen)
    recording_prompts(refiner.stage2, seen)
    sampler = DiffusionSampler(zero123.load(), refiner, torch.full((3, 32, 32), 0.5), 10.0, "a red box", "", 32, steps=1)
    sampler.refine(torch.full((3, 32, 32), 0.5), torch.tensor([10.0, azimuth, 2.0]), torch.Generator().manual_seed(0))
    assert set(seen) == {"", f"a red box, {view} view"}, "the (empty) negative prompt, and the view prompt of both IF stages"


def test_controlnet_depth_refines_each_sample_on_its_own_estimated_depth(registry_env):
    refiner = ControlNetRefiner(controlnet_depth.load(), depth.load())
    sampler = DiffusionSampler(zero123.load(), refiner, torch.full((3, 32, 32), 0.5), 10.0, "a red box", "", 32, steps=2)
    pose = torch.tensor([0.0, 90.0, 2.0])
    samples = sampler.draw(pose, PriorSamplingConfig(samples_per_pose=2), torch.Generator().manual_seed(1))
    refined = sampler.refine(samples.images[0], pose, torch.Generator().manual_seed(1))
    assert refined.shape == (3, 32, 32) and torch.isfinite(refined).all()
    _, config = resolve(get("cad"), "tiny", {"prior": "zero123", "refiner": "controlnet_depth"})
    assert set(config.required_models()) == {"zero123", "clip", "controlnet_depth", "controlnet_base", "depth"}


@pytest.mark.slow
def test_a_cad_job_runs_on_the_zero123_prior_end_to_end(registry_env, tmp_path):
    overrides = {
        "prior": "zero123", "prior_steps": 2, "sampling.samples": 4, "sampling.samples_per_pose": 2, "sampling.chunk_poses": 2,
        "sampling.pruning.max_outside_fraction": 100.0, "sampling.pruning.similarity_spreads": 100.0,  # random models: keep every pose
        "sampling.pruning.calibration_poses": 3,
        "train.stage1_steps": 2, "train.stage2_steps": 1,
    }  # fmt: skip
    _, config = resolve(get("cad"), "tiny", overrides)
    assert set(config.required_models()) == {"zero123", "clip", "deepfloyd_if_stage1", "deepfloyd_if_stage2"}
    events = []
    reporter = ProgressReporter(lambda kind, data, payload: events.append((kind, data)), min_interval_s=0.0)
    (tmp_path / "job" / "work").mkdir(parents=True)
    context = JobContext("job", "cpu", tmp_path / "job" / "work", reporter, tmp_path / "job" / "work" / "generator")
    result = CADMethod().run(JobInputs("a red box", "", 0, Camera(elevation_deg=10.0), reference_image()), config, context)
    assert result.metadata["prior"]["kept"] == result.metadata["kept_samples"] == 4
    assert "generator.safetensors" in result.files
    assert any(kind == "log" and "Zero-1-to-3" in data.get("message", "") for kind, data in events)
    assert result.metadata["prior"]["reference_elevation"] == {"degrees": 10.0, "source": "camera"}
    assert json.loads(result.files["generator.json"].data)["reference_elevation"] == 10.0, "inversion's default camera"
    assert not (tmp_path / "job" / "work" / ELEVATION_FILE).exists(), "the job camera's elevation needs no estimate"


@pytest.mark.slow
def test_without_a_camera_the_job_estimates_the_elevation_once_and_a_resumed_run_keeps_it(registry_env, tmp_path):
    overrides = {
        "prior": "zero123", "prior_steps": 2, "refiner": "none", "sampling.samples": 2, "sampling.samples_per_pose": 2,
        "sampling.pruning.max_outside_fraction": 100.0, "sampling.pruning.similarity_spreads": 100.0, "sampling.pruning.calibration_poses": 3,
        "train.stage1_steps": 1, "train.stage2_steps": 0, "reference_elevation": 5.0, "elevation.ray_samples": 16,
        "elevation.coarse_step_deg": 30.0, "elevation.fine_step_deg": 15.0,
    }  # fmt: skip
    _, config = resolve(get("cad"), "tiny", overrides)
    events = []
    reporter = ProgressReporter(lambda kind, data, payload: events.append((kind, data)), min_interval_s=0.0)
    work = tmp_path / "job" / "work"
    context = JobContext("job", "cpu", work, reporter, work / "generator")
    result = CADMethod().run(JobInputs("a red box", "", 0, None, reference_image()), config, context)
    elevation = result.metadata["prior"]["reference_elevation"]
    # random weights draw noise, which explains every elevation alike: the estimate is made and rightly not trusted
    assert elevation["source"] == "default" and elevation["degrees"] == 5.0 and "untrusted_estimate" in elevation
    assert json.loads((work / ELEVATION_FILE).read_text()) == elevation
    assert any(kind == "progress" and data.get("stage") == "elevation" for kind, data in events)

    record = {"degrees": 27.5, "source": "estimated", "coherence": 0.97, "contrast": 0.2}
    (work / ELEVATION_FILE).write_text(json.dumps(record))
    sampler = DiffusionSampler(None, None, torch.full((3, 32, 32), 0.5), 0.0, "", "", 32)  # no model: must not be asked
    assert settled_elevation(sampler, config, 0, work / ELEVATION_FILE, ProgressReporter(lambda *a: None)) == record


def test_the_zero123_prior_needs_an_image_and_the_synthetic_one_needs_no_models(registry_env, tmp_path):
    _, config = resolve(get("cad"), "tiny", {"prior": "zero123"})
    context = JobContext("job", "cpu", tmp_path, ProgressReporter(lambda *a: None), tmp_path / "generator")
    with pytest.raises(MethodError, match="needs an input image"):
        CADMethod().run(JobInputs("", "", 0, None, None), config, context)
    assert CADConfig(prior="synthetic", family="snowman").required_models() == ()
    assert "deepfloyd_if_stage1" not in CADConfig(refiner="none").required_models()
