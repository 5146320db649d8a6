"""DeepFloyd IF stages on tiny random-weight checkpoints in the IF folder layouts, loaded through the registry.

The tiny stages work at 16² and 64² (:data:`tiny_models.IF_SIZES`); the real ones at 64² and 256².
"""

import math
from dataclasses import replace

import pytest
import torch

from backend.teachers import schedule as S
from backend.teachers import deepfloyd_if, registry
from backend.teachers.base import Condition
from tests.backend.teachers import tiny_models

ENV1 = registry.ROLE_ENV_PREFIX + "DEEPFLOYD_IF_STAGE1"
ENV2 = registry.ROLE_ENV_PREFIX + "DEEPFLOYD_IF_STAGE2"
LOW, HIGH = tiny_models.IF_SIZES


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("deepfloyd")
    return tiny_models.if_stage1(root / "stage1"), tiny_models.if_stage2(root / "stage2")


@pytest.fixture(scope="module")
def refiner(folders):
    return tiny_models.load_through_registry(deepfloyd_if.load, {"deepfloyd_if_stage1": folders[0], "deepfloyd_if_stage2": folders[1]})


@pytest.fixture(scope="module")
def stage1(refiner):
    return refiner.stage1


def test_loads_through_the_registry(refiner, folders, monkeypatch):
    stage1, stage2 = refiner.stage1, refiner.stage2
    assert stage1.space == stage2.space == "pixel"
    assert (stage1.image_size, stage2.image_size) == (LOW, HIGH)
    assert (stage1.default_guidance, stage2.default_guidance) == (10.0, 4.0)
    assert stage2.prompts is stage1.prompts, "stage II reuses stage I's T5"
    monkeypatch.setenv(ENV1, str(folders[0]))
    assert isinstance(deepfloyd_if.load_stage1(), deepfloyd_if.DeepFloydTeacher)


def test_encode_resizes_to_the_stage_resolution(stage1):
    pixels = stage1.encode(torch.rand(2, 3, 48, 48))
    assert pixels.shape == (2, 3, LOW, LOW) and -1.0 <= pixels.min() and pixels.max() <= 1.0


def test_eps_is_the_first_half_of_the_learned_variance_output(stage1):
    x_t, t = torch.randn(2, 3, LOW, LOW), torch.tensor([600, 300])
    prediction = stage1.predict(x_t, t, Condition(prompt="A Chair ", guidance_scale=1.0))
    raw = stage1.unet(x_t, t, encoder_hidden_states=stage1.prompts(["a chair", "a chair"])).sample
    assert raw.shape[1] == 6
    alpha, sigma = stage1.schedule.coefficients(t, x_t)
    unlimited = S.x0_from_eps(x_t, raw[:, :3], alpha, sigma)
    config = stage1.scheduler.config
    assert config.thresholding and unlimited.abs().max() > 1.0  # the scheduler's dynamic thresholding has work to do
    expected = S.dynamic_threshold(unlimited, config.dynamic_thresholding_ratio, config.sample_max_value)
    assert torch.allclose(prediction.x0, expected, atol=1e-5), "captions are lower-cased and stripped; ε̂ = first 3 channels"
    assert prediction.x0.abs().max() <= 1.0 + 1e-6
    assert torch.allclose(prediction.eps, S.eps_from_x0(x_t, expected, alpha, sigma), atol=1e-4)


def test_guidance_is_u_plus_s_times_c_minus_u(stage1, monkeypatch):
    monkeypatch.setattr(stage1, "limit_x0", lambda x0: x0)  # guidance is linear before thresholding (tested above)
    x_t, t = torch.randn(2, 3, LOW, LOW, generator=torch.Generator().manual_seed(0)), torch.tensor([900, 100])

    def eps(scale):
        return stage1.predict(x_t, t, Condition(prompt="a chair", negative_prompt="blurry", guidance_scale=scale)).eps

    unconditional, conditional = eps(0.0), eps(1.0)
    assert not torch.allclose(unconditional, conditional, atol=1e-5)
    assert torch.allclose(eps(None), unconditional + 10.0 * (conditional - unconditional), atol=1e-4)


def test_stage2_sees_the_noise_augmented_upscaled_image(refiner):
    stage2 = refiner.stage2
    x_t, low = torch.randn(2, 3, HIGH, HIGH), torch.rand(2, 3, LOW, LOW)
    condition = Condition(prompt="a chair", image=low)
    unconditional, conditional = stage2.branches(x_t, condition)
    assert conditional.sample.shape == (2, 6, HIGH, HIGH) and torch.equal(conditional.sample[:, :3], x_t)
    assert torch.equal(conditional.extras["class_labels"], torch.tensor([250, 250]))
    upscaled = torch.nn.functional.interpolate(low * 2 - 1, size=(HIGH, HIGH), mode="bilinear", align_corners=True)
    alpha, sigma = stage2.noising.coefficients(torch.tensor([250, 250]), upscaled)
    noise = (conditional.sample[:, 3:] - alpha * upscaled) / sigma
    assert abs(float(noise.std()) - 1.0) < 0.05 and abs(float(noise.mean())) < 0.05
    assert torch.equal(unconditional.sample, conditional.sample)
    assert torch.equal(stage2.branches(x_t, condition)[1].sample, conditional.sample), "the augmentation noise is the same on every call"

    def eps(image):
        return stage2.predict(x_t, torch.tensor([500, 500]), replace(condition, image=image, guidance_scale=1.0)).eps

    assert not torch.allclose(eps(low), eps(low.flip(-1)), atol=1e-5)
    with pytest.raises(ValueError, match="condition.image"):
        stage2.predict(x_t, torch.tensor([500, 500]), Condition(prompt="a chair"))


def test_refiner_runs_both_stages_at_their_strengths(refiner, monkeypatch):
    calls = {"stage1": [], "stage2": []}
    for name in calls:
        stage = getattr(refiner, name)
        monkeypatch.setattr(stage, "predict", lambda x_t, t, c, _p=stage.predict, _c=calls[name]: _c.append((t.clone(), x_t.shape, c)) or _p(x_t, t, c))
    images = torch.rand(2, 3, 48, 48)
    refined = refiner.refine_images(images, Condition(prompt="a chair"), steps=4)
    assert refined.shape == (2, 3, HIGH, HIGH) and 0.0 <= refined.min() and refined.max() <= 1.0
    (first1, shape1, _), (first2, shape2, condition2) = calls["stage1"][0], calls["stage2"][0]
    assert int(first1[0]) == round(0.3 * 999) and len(calls["stage1"]) == math.ceil(0.3 * 4) and shape1 == (2, 3, LOW, LOW)
    assert int(first2[0]) == round(0.7 * 999) and len(calls["stage2"]) == math.ceil(0.7 * 4) and shape2 == (2, 3, HIGH, HIGH)
    assert condition2.image.shape == (2, 3, LOW, LOW), "stage II is conditioned on stage I's result"


def test_sds_step_and_sampling(stage1):
    images = torch.rand(2, 3, LOW, LOW, requires_grad=True)
    pixels = stage1.encode(images)
    result = stage1.sds(pixels, Condition(prompt="a chair", poses=torch.tensor([[0.0, 0.0, 2.0], [0.0, 90.0, 2.0]])), torch.tensor([500, 50]))
    assert result.gradient.shape == (2, 3, LOW, LOW) and torch.isfinite(result.gradient).all() and result.gradient.abs().sum() > 0
    sample = stage1.decode(stage1.sample((1, 3, LOW, LOW), Condition(prompt="a chair"), steps=1, generator=torch.Generator().manual_seed(0)))
    assert sample.shape == (1, 3, LOW, LOW) and 0.0 <= sample.min() and sample.max() <= 1.0


def test_an_empty_folder_is_a_missing_model(tmp_path, monkeypatch, folders):
    monkeypatch.setenv(ENV1, str(folders[0]))
    monkeypatch.setenv(ENV2, str(tmp_path))
    with pytest.raises(registry.MissingModelError, match="deepfloyd_if_stage2"):
        deepfloyd_if.load()


@pytest.mark.weights
@pytest.mark.skipif(
    not (registry.resolve(deepfloyd_if.STAGE1_ROLE).present and registry.resolve(deepfloyd_if.STAGE2_ROLE).present),
    reason="DeepFloyd IF stage I or II weights are not on disk",
)
def test_real_weights_sds_step():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    refiner = deepfloyd_if.load(device=device)
    pixels = refiner.stage1.encode(torch.rand(1, 3, 256, 256, device=device))
    result = refiner.stage1.sds(pixels, Condition(prompt="a wooden chair"), torch.tensor([500]))
    assert result.gradient.shape == (1, 3, 64, 64) and torch.isfinite(result.gradient).all()
