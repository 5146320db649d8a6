"""ControlNet-depth teacher on tiny random-weight checkpoints (ControlNet + SD base folders), loaded through the registry."""

import math

import pytest
import torch

from backend.teachers import controlnet_depth, registry
from backend.teachers.base import Condition
from tests.backend.teachers import tiny_models

ENV = registry.ROLE_ENV_PREFIX + "CONTROLNET_DEPTH"
BASE_ENV = registry.ROLE_ENV_PREFIX + "CONTROLNET_BASE"


def ramp(batch: int, size: int = 32, flip: bool = False) -> torch.Tensor:
    """Depth maps (B, 1, size, size) in [0, 1] rising left to right (or right to left)."""
    row = torch.linspace(0.0, 1.0, size)
    return (row.flip(0) if flip else row).expand(batch, 1, size, size).clone()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("controlnet")
    return tiny_models.controlnet(root / "controlnet"), tiny_models.stable_diffusion(root / "base")


@pytest.fixture(scope="module")
def teacher(folders):
    return tiny_models.load_through_registry(controlnet_depth.load, {"controlnet_depth": folders[0], "controlnet_base": folders[1]})


@pytest.fixture(scope="module")
def x_t():
    return torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))


def test_loads_through_the_registry(teacher):
    assert teacher.space == "latent" and teacher.default_guidance == controlnet_depth.GUIDANCE
    assert controlnet_depth.STRENGTH == 0.8
    assert type(teacher.controlnet).__name__ == "ControlNetModel"


def test_control_image_is_depth_replicated_at_image_resolution(teacher, x_t):
    control = teacher.control_image(ramp(2, size=16), x_t)
    assert control.shape == (2, 3, 64, 64)
    assert torch.equal(control[:, 0], control[:, 2]) and 0.0 <= control.min() and control.max() <= 1.0
    assert control[0, 0, 0, -1] > control[0, 0, 0, 0], "near (large) stays bright"
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        teacher.control_image(ramp(3), x_t)


def test_depth_changes_the_prediction(teacher, x_t):
    t = torch.tensor([500, 500])

    def eps(depth):
        return teacher.predict(x_t, t, Condition(prompt="a chair", depth=depth, guidance_scale=1.0)).eps

    left, right = eps(ramp(2)), eps(ramp(2, flip=True))
    assert torch.isfinite(left).all() and not torch.allclose(left, right, atol=1e-5)
    with pytest.raises(ValueError, match="condition.depth"):
        teacher.predict(x_t, t, Condition(prompt="a chair"))


def test_guidance_is_u_plus_s_times_c_minus_u(teacher, x_t):
    t = torch.tensor([800, 200])

    def eps(scale):
        return teacher.predict(x_t, t, Condition(prompt="a chair", negative_prompt="blurry", depth=ramp(2), guidance_scale=scale)).eps

    unconditional, conditional = eps(0.0), eps(1.0)
    assert torch.allclose(eps(None), unconditional + 7.5 * (conditional - unconditional), atol=1e-4)


def test_refine_starts_at_strength_times_T(teacher, monkeypatch):
    calls = []
    predict = teacher.predict
    monkeypatch.setattr(teacher, "predict", lambda x_t, t, condition: calls.append(t.clone()) or predict(x_t, t, condition))
    images = torch.rand(2, 3, 64, 64)
    poses = torch.tensor([[0.0, 0.0, 2.0], [0.0, 180.0, 2.0]])
    refined = teacher.refine_images(images, controlnet_depth.STRENGTH, Condition(prompt="a chair", depth=ramp(2), poses=poses), steps=5)
    assert refined.shape == (2, 3, 64, 64) and 0.0 <= refined.min() and refined.max() <= 1.0
    assert [int(t[0]) for t in calls] == [799, 599, 399, 199]
    assert len(calls) == math.ceil(0.8 * 5)


def test_sds_step(teacher):
    latents = teacher.encode(torch.rand(2, 3, 64, 64))
    result = teacher.sds(latents, Condition(prompt="a chair", depth=ramp(2)), torch.tensor([700, 300]), generator=torch.Generator().manual_seed(0))
    assert result.gradient.shape == (2, 4, 8, 8) and torch.isfinite(result.gradient).all() and result.gradient.abs().sum() > 0


def test_an_empty_folder_is_a_missing_model(tmp_path, monkeypatch, folders):
    monkeypatch.setenv(ENV, str(tmp_path))
    monkeypatch.setenv(BASE_ENV, str(folders[1]))
    with pytest.raises(registry.MissingModelError, match="controlnet_depth"):
        controlnet_depth.load()


@pytest.mark.weights
@pytest.mark.skipif(
    not (registry.resolve(controlnet_depth.ROLE).present and registry.resolve(controlnet_depth.BASE_ROLE).present),
    reason="ControlNet-depth or its SD 1.5 base is not on disk",
)
def test_real_weights_sds_step():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    teacher = controlnet_depth.load(device=device)
    latents = teacher.encode(torch.rand(1, 3, 512, 512, device=device))
    result = teacher.sds(latents, Condition(prompt="a wooden chair", depth=ramp(1, 512)), torch.tensor([500]))
    assert result.gradient.shape == (1, 4, 64, 64) and torch.isfinite(result.gradient).all()


def test_metric_depth_is_refused_and_normalise_depth_converts_it(teacher, x_t):
    from backend.core.cameras import spherical_to_c2w
    from backend.teachers.synthetic.render import SceneObject
    from backend.teachers.synthetic.text import parse

    c2w = spherical_to_c2w(torch.tensor([10.0, 30.0]), torch.tensor([0.0, 90.0]), torch.tensor([2.0, 2.0]))
    truth = SceneObject(parse("a red cube on a blue sphere")).render(c2w, 49.1, 32, 32)
    metric = truth.depth[:, None]
    with pytest.raises(ValueError, match="normalise_depth"):
        teacher.predict(x_t, torch.tensor([500, 500]), Condition(prompt="a toy", depth=metric))
    control = controlnet_depth.normalise_depth(metric, truth.mask[:, None])
    covered = truth.mask[:, None] > 0
    assert float(control[~covered].abs().max()) == 0.0
    assert torch.allclose(control.flatten(1).amax(dim=1), torch.ones(2))
    assert float(control[covered].min()) == pytest.approx(0.1, abs=1e-5)
    nearest = metric.masked_fill(~covered, float("inf")).flatten(1).argmin(dim=1)
    assert torch.allclose(control.flatten(1).gather(1, nearest[:, None]), torch.ones(2, 1))  # near is bright
    assert torch.isfinite(teacher.predict(x_t, torch.tensor([500, 500]), Condition(prompt="a toy", depth=control)).eps).all()
