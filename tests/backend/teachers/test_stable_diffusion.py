"""Stable Diffusion teacher on a tiny random-weight checkpoint in the real folder layout, loaded through the registry."""

import pytest
import torch

from backend.teachers import registry
from backend.teachers import schedule as S
from backend.teachers import stable_diffusion
from backend.teachers.base import Condition
from backend.teachers.latent_diffusion import Runtime, view_name, view_prompts
from tests.backend.teachers import tiny_models

ENV = registry.ROLE_ENV_PREFIX + "STABLE_DIFFUSION"
FRONT, SIDE, BACK = [0.0, 10.0, 2.0], [20.0, -90.0, 2.0], [0.0, 180.0, 2.0]


def load_tiny(folder, **options):
    return tiny_models.load_through_registry(stable_diffusion.load, {"stable_diffusion": folder}, **options)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_models.stable_diffusion(tmp_path_factory.mktemp("sd"))


@pytest.fixture(scope="module")
def teacher(folder):
    return load_tiny(folder)


@pytest.mark.parametrize(
    ("elevation", "azimuth", "view"),
    [
        (0, 0, "front"),
        (30, 45, "front"),
        (0, -45, "front"),
        (0, 46, "side"),
        (10, -90, "side"),
        (0, 134, "side"),
        (0, 135, "back"),
        (0, 180, "back"),
        (0, -170, "back"),
        (0, 350, "front"),
        (0, 200, "back"),
        (60, 180, "back"),
        (61, 0, "overhead"),
    ],
)
def test_view_name_follows_the_camera(elevation, azimuth, view):
    assert view_name(elevation, azimuth) == view
    # the same camera seen from a reference at azimuth 180° (CAD's): front and back swap, sides stay
    swapped = {"front": "back", "back": "front"}.get(view, view)
    assert view_name(elevation, azimuth + 180.0, front_azimuth_deg=180.0) == view
    assert view_name(elevation, azimuth, front_azimuth_deg=180.0) == swapped


def test_view_prompts_one_per_pose():
    poses = torch.tensor([FRONT, SIDE, BACK, [75.0, 0.0, 2.0]])
    assert view_prompts("a chair", poses, 4) == ["a chair, front view", "a chair, side view", "a chair, back view", "a chair, overhead view"]
    assert view_prompts("a chair", None, 2) == ["a chair", "a chair"]
    with pytest.raises(ValueError, match="3 poses for a batch of 2"):
        view_prompts("a chair", poses[:3], 2)


def test_the_reference_side_is_the_front():
    """What the text encoder is fed: the reference image's own side is prompted as the front, wherever the reference sits."""
    poses = torch.tensor([[0.0, 180.0, 2.0], [0.0, 0.0, 2.0], [0.0, 90.0, 2.0]])
    assert view_prompts("a chair", poses, 3, front_azimuth_deg=180.0) == ["a chair, front view", "a chair, back view", "a chair, side view"]


def test_loads_through_the_registry(teacher):
    assert teacher.space == "latent" and teacher.default_guidance == stable_diffusion.GUIDANCE == 25.0
    assert teacher.prediction_type == "epsilon"
    assert torch.equal(teacher.schedule.alphas_cumprod, teacher.scheduler.alphas_cumprod.float())
    latents = teacher.encode(torch.rand(2, 3, 64, 64))
    assert latents.shape == (2, 4, 8, 8)
    assert teacher.decode(latents).shape == (2, 3, 64, 64)


def test_guidance_is_u_plus_s_times_c_minus_u(teacher):
    x_t, t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([700, 300])
    condition = Condition(prompt="a red chair", negative_prompt="blurry")
    unconditional = teacher.predict(x_t, t, Condition(prompt="a red chair", negative_prompt="blurry", guidance_scale=0.0)).eps
    conditional = teacher.predict(x_t, t, Condition(prompt="a red chair", negative_prompt="blurry", guidance_scale=1.0)).eps
    guided = teacher.predict(x_t, t, condition)
    assert not torch.allclose(unconditional, conditional, atol=1e-4)
    assert torch.allclose(guided.eps, unconditional + 25.0 * (conditional - unconditional), atol=1e-4)
    alpha, sigma = teacher.schedule.coefficients(t, x_t)
    assert torch.allclose(guided.x0, (x_t - sigma * guided.eps) / alpha, atol=1e-5)


def test_poses_select_view_prompts(teacher):
    x_t, t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1)), torch.tensor([500, 500])
    by_pose = teacher.predict(x_t, t, Condition(prompt="a chair", poses=torch.tensor([FRONT, BACK]), guidance_scale=1.0)).eps
    spelled = [teacher.predict(x_t[i : i + 1], t[:1], Condition(prompt=f"a chair, {view} view", guidance_scale=1.0)).eps for i, view in enumerate(["front", "back"])]
    assert torch.allclose(by_pose, torch.cat(spelled), atol=1e-5)
    plain = teacher.predict(x_t, t, Condition(prompt="a chair", guidance_scale=1.0)).eps
    assert not torch.allclose(by_pose, plain, atol=1e-4)


def test_prompt_embeddings_are_cached(teacher):
    calls = []
    handle = teacher.prompts.text_encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        x_t, t = torch.randn(1, 4, 8, 8), torch.tensor([400])
        for _ in range(3):
            teacher.predict(x_t, t, Condition(prompt="a teapot never seen before", negative_prompt="a new negative"))
    finally:
        handle.remove()
    assert len(calls) == 2


def test_sds_step_and_sampling(teacher):
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    latents = teacher.encode(images)
    result = teacher.sds(latents, Condition(prompt="a chair", poses=torch.tensor([FRONT, SIDE])), torch.tensor([600, 200]), generator=torch.Generator().manual_seed(0))
    assert result.gradient.shape == latents.shape and torch.isfinite(result.gradient).all()
    assert result.gradient.abs().sum() > 0
    latents.backward(result.gradient)
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    sample = teacher.sample((1, 4, 8, 8), Condition(prompt="a chair"), steps=1, generator=torch.Generator().manual_seed(0))
    decoded = teacher.decode(sample)
    assert decoded.shape == (1, 3, 64, 64) and 0.0 <= decoded.min() and decoded.max() <= 1.0


def test_v_prediction_checkpoints_are_converted_to_eps(tmp_path):
    teacher = load_tiny(tiny_models.stable_diffusion(tmp_path / "sd-v", prediction_type="v_prediction"))
    assert teacher.prediction_type == "v_prediction"
    x_t, t = torch.randn(1, 4, 8, 8), torch.tensor([600])
    prediction = teacher.predict(x_t, t, Condition(prompt="a chair", guidance_scale=1.0))
    v = teacher.unet(x_t, t, encoder_hidden_states=teacher.prompts(["a chair"])).sample
    alpha, sigma = teacher.schedule.coefficients(t, x_t)
    assert torch.allclose(prediction.eps, S.eps_from_v(x_t, v, alpha, sigma), atol=1e-5)
    assert torch.allclose(prediction.x0, alpha * x_t - sigma * v, atol=1e-4)


def test_runtime_defaults_to_half_precision_on_cuda_only(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert Runtime.create("cuda:0").dtype == torch.float16 and Runtime.create("cpu").dtype == torch.float32
    assert Runtime.create("cuda", torch.float32).dtype == torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device"):
        Runtime.create("cuda")


def test_attention_slicing_and_offload_leave_the_prediction_unchanged(teacher, folder):
    frugal = load_tiny(folder, attention_slicing=True, offload=True)
    assert frugal.runtime.offload and frugal.runtime.attention_slicing
    x_t, t = torch.randn(2, 4, 8, 8), torch.tensor([300, 600])
    condition = Condition(prompt="a chair", negative_prompt="blurry")
    assert torch.allclose(frugal.predict(x_t, t, condition).eps, teacher.predict(x_t, t, condition).eps, atol=1e-4)


def test_an_empty_folder_is_a_missing_model(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(registry.MissingModelError, match="stable_diffusion"):
        stable_diffusion.load()


@pytest.mark.weights
@pytest.mark.skipif(not registry.resolve(stable_diffusion.ROLE).present, reason="Stable Diffusion weights are not on disk")
def test_real_weights_sds_step():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    teacher = stable_diffusion.load(device=device)
    latents = teacher.encode(torch.rand(1, 3, 512, 512, device=device))
    result = teacher.sds(latents, Condition(prompt="a wooden chair", poses=torch.tensor([SIDE])), torch.tensor([500]))
    assert result.gradient.shape == (1, 4, 64, 64) and torch.isfinite(result.gradient).all()


def test_half_precision_weights_take_float32_inputs_and_agree(teacher, folder):
    """The fp16-on-CUDA path, exercised on CPU with bfloat16: inputs are cast to the weights' dtype and ε̂ comes back
    in the caller's dtype, close to the float32 model's."""
    half = load_tiny(folder, dtype=torch.bfloat16)
    assert next(half.unet.parameters()).dtype == torch.bfloat16
    x_t, t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([200, 700])
    condition = Condition(prompt="a chair", guidance_scale=1.0)  # guidance 25 would amplify bfloat16's 3-digit rounding
    reference, reduced = teacher.predict(x_t, t, condition), half.predict(x_t, t, condition)
    assert reduced.eps.dtype == torch.float32
    scale = reference.eps.abs().mean()
    assert (reduced.eps - reference.eps).abs().mean() < 0.05 * scale
    latents = half.encode(torch.rand(1, 3, 16, 16))
    assert latents.dtype == torch.float32 and torch.isfinite(half.decode(latents)).all()
