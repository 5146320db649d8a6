"""Zero-1-to-3 teacher on a tiny random-weight checkpoint in the diffusers layout, loaded through the registry."""

import math

import pytest
import torch

from backend.teachers import registry, zero123
from backend.teachers.base import Condition
from backend.teachers.latent_diffusion import Runtime, resize
from tests.backend.teachers import tiny_models

ENV = registry.ROLE_ENV_PREFIX + "ZERO123"
POSES = torch.tensor([[30.0, 90.0, 2.5], [0.0, 180.0, 2.0]])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_models.zero123(tmp_path_factory.mktemp("zero123"))


@pytest.fixture(scope="module")
def teacher(folder):
    return tiny_models.load_through_registry(zero123.load, {"zero123": folder})


@pytest.fixture(scope="module")
def reference_image():
    return torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def x_t():
    return torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(1))


def test_loads_through_the_registry(teacher):
    assert teacher.space == "latent" and teacher.default_guidance == zero123.GUIDANCE == 5.0
    assert teacher.unet.config.in_channels == 8
    assert teacher.projection.in_features == tiny_models.CONTEXT_WIDTH + 4
    assert teacher.encode(torch.rand(2, 3, 64, 64)).shape == (2, 4, 32, 32), "inputs are resized to 256²"


def test_reference_latent_is_the_unscaled_posterior_mode(teacher, reference_image):
    reference = teacher.reference(reference_image)
    square = resize(reference_image, 256)
    mode = teacher.vae.encode(square * 2 - 1).latent_dist.mode()
    assert torch.allclose(reference.latent, mode, atol=1e-6)
    assert reference.embedding.shape == (1, 1, tiny_models.CONTEXT_WIDTH)


def test_camera_context_is_the_projected_embedding_and_relative_pose(teacher, reference_image):
    reference = teacher.reference(reference_image)
    context = teacher.camera_context(reference, Condition(poses=POSES, reference_pose=(0.0, 0.0, 2.0)))
    camera = torch.tensor([[math.radians(-30.0), 1.0, 0.0, 0.5], [0.0, 0.0, -1.0, 0.0]])
    expected = teacher.projection(torch.cat([reference.embedding.expand(2, -1, -1), camera[:, None]], dim=-1))
    assert context.shape == (2, 1, tiny_models.CONTEXT_WIDTH)
    assert torch.allclose(context, expected, atol=1e-5)


def test_unconditional_branch_zeroes_the_context_and_the_reference_latent(teacher, reference_image, x_t):
    unconditional, conditional = teacher.branches(x_t, Condition(image=reference_image, poses=POSES))
    assert unconditional.sample.shape == conditional.sample.shape == (2, 8, 32, 32)
    assert torch.equal(unconditional.sample[:, :4], x_t) and torch.equal(conditional.sample[:, :4], x_t)
    assert torch.count_nonzero(unconditional.sample[:, 4:]) == 0 and torch.count_nonzero(unconditional.encoder_hidden_states) == 0
    assert torch.equal(conditional.sample[:, 4:], teacher.reference(reference_image).latent.expand(2, -1, -1, -1))


def test_guidance_is_u_plus_s_times_c_minus_u(teacher, reference_image, x_t):
    t = torch.tensor([800, 250])

    def eps(scale):
        return teacher.predict(x_t, t, Condition(image=reference_image, poses=POSES, guidance_scale=scale)).eps

    unconditional, conditional = eps(0.0), eps(1.0)
    assert torch.allclose(eps(None), unconditional + 5.0 * (conditional - unconditional), atol=1e-4)


def test_reference_image_and_camera_change_the_prediction(teacher, reference_image, x_t):
    t = torch.tensor([500, 500])

    def eps(image, poses, scale=1.0):
        return teacher.predict(x_t, t, Condition(image=image, poses=poses, guidance_scale=scale)).eps

    base = eps(reference_image, POSES)
    assert not torch.allclose(base, eps(reference_image, POSES + torch.tensor([0.0, 40.0, 0.0])), atol=1e-5)
    assert not torch.allclose(base, eps(reference_image.flip(-1), POSES), atol=1e-5)
    assert torch.allclose(eps(reference_image, POSES, 0.0), eps(reference_image.flip(-1), POSES.flip(0), 0.0), atol=1e-6), "the unconditional branch sees neither"


def test_reference_is_encoded_once(teacher):
    calls = []
    handle = teacher.image_encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        image = torch.rand(1, 3, 64, 64)
        for _ in range(2):
            teacher.predict(torch.randn(2, 4, 32, 32), torch.tensor([300, 300]), Condition(image=image.clone(), poses=POSES))
    finally:
        handle.remove()
    assert len(calls) == 1


def test_missing_image_or_poses_is_an_error(teacher, reference_image, x_t):
    with pytest.raises(ValueError, match="condition.image"):
        teacher.predict(x_t, torch.tensor([1, 1]), Condition(poses=POSES))
    with pytest.raises(ValueError, match="1 poses for a batch of 2"):
        teacher.predict(x_t, torch.tensor([1, 1]), Condition(image=reference_image, poses=POSES[:1]))


def test_sds_step_and_sampling(teacher, reference_image):
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    latents = teacher.encode(images)
    condition = Condition(image=reference_image, poses=POSES)
    result = teacher.sds(latents, condition, torch.tensor([900, 100]), generator=torch.Generator().manual_seed(0))
    assert result.gradient.shape == (2, 4, 32, 32) and torch.isfinite(result.gradient).all() and result.gradient.abs().sum() > 0
    latents.backward(result.gradient)
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    decoded = teacher.decode(teacher.sample((2, 4, 32, 32), condition, steps=1, generator=torch.Generator().manual_seed(0)))
    assert decoded.shape == (2, 3, 256, 256) and 0.0 <= decoded.min() and decoded.max() <= 1.0


@pytest.mark.parametrize("layout", list(zero123.PROJECTION_FOLDERS))
def test_camera_projection_loads_from_either_layout(tmp_path, layout):
    saved = tiny_models.camera_projection(tmp_path / layout)
    loaded = zero123.load_camera_projection(tmp_path, Runtime.create())
    assert torch.equal(loaded.weight, saved.weight) and torch.equal(loaded.bias, saved.bias)


def test_a_folder_without_projection_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="clip_camera_projection, cc_projection"):
        zero123.load_camera_projection(tmp_path, Runtime.create())


def test_an_empty_folder_is_a_missing_model(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(registry.MissingModelError, match="zero123"):
        zero123.load()


@pytest.mark.weights
@pytest.mark.skipif(not registry.resolve(zero123.ROLE).present, reason="Zero-1-to-3 weights are not on disk")
def test_real_weights_sds_step():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    teacher = zero123.load(device=device)
    latents = teacher.encode(torch.rand(1, 3, 256, 256, device=device))
    condition = Condition(image=torch.rand(1, 3, 256, 256), poses=torch.tensor([[15.0, 60.0, 2.0]]))
    result = teacher.sds(latents, condition, torch.tensor([500]))
    assert result.gradient.shape == (1, 4, 32, 32) and torch.isfinite(result.gradient).all()


def test_attention_slicing_and_offload_leave_the_prediction_unchanged(teacher, folder, reference_image, x_t):
    """What ``--set memory.offload=true memory.attention_slicing=true`` gives DTC123 and CAD (on a CPU the code path, not
    the memory, is what is checked)."""
    frugal = tiny_models.load_through_registry(zero123.load, {"zero123": folder}, offload=True, attention_slicing=True)
    assert frugal.runtime.offload and frugal.runtime.attention_slicing
    condition, t = Condition(image=reference_image, poses=POSES), torch.tensor([700, 200])
    assert torch.allclose(frugal.predict(x_t, t, condition).eps, teacher.predict(x_t, t, condition).eps, atol=1e-4)
