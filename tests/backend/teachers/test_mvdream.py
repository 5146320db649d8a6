"""The MVDream teacher: camera convention, checkpoint key mapping, and a tiny random checkpoint in the real layout."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.core.cameras import spherical_to_c2w
from backend.teachers import registry
from backend.teachers import schedule as S
from backend.teachers.base import Condition, sds_loss
from backend.teachers.mvdream import MVDreamTeacher, camera_input, load, mvdream_camera
from backend.teachers.mvdream_unet import MultiViewUNet, MVDreamUNetConfig, diffusers_to_mvdream, mvdream_to_diffusers
from tests.backend.teachers.tiny_models import load_through_registry

REAL_UNET_CONFIG = {
    "_class_name": "MultiViewUNetModel",
    "_diffusers_version": "0.25.0",
    "attention_resolutions": [4, 2, 1],
    "camera_dim": 16,
    "channel_mult": [1, 2, 4, 4],
    "context_dim": 1024,
    "image_size": 32,
    "in_channels": 4,
    "model_channels": 320,
    "num_head_channels": 64,
    "num_res_blocks": 2,
    "out_channels": 4,
    "transformer_depth": 1,
}
"""``unet/config.json`` of the sd-v2.1 4-view checkpoint in diffusers layout, as published."""

MODEL_INDEX = {
    "_class_name": "MVDreamPipeline",
    "_diffusers_version": "0.25.0",
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "requires_safety_checker": False,
    "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["mv_unet", "MultiViewUNetModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}
"""``model_index.json`` of ashawkey/mvdream-sd2.1-diffusers."""

TINY_UNET = MVDreamUNetConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(1,), num_head_channels=16, context_dim=32, image_size=8)
"""Level 0 attends, level 1 does not (as the real model's last level); the middle block attends."""

TEXT_LENGTH = 16



# ------------------------------------------------------------------ camera convention


def mvdream_reference_camera(elevation: float, azimuth: float) -> np.ndarray:
    """MVDream's own recipe, re-derived: a unit-sphere look-at camera in a Y-up world, then the world turned Z-up."""
    e, a = math.radians(elevation), math.radians(azimuth)
    position = np.array([math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a)])
    forward = -position / np.linalg.norm(position)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, up, -forward, position
    to_z_up = np.array([[1, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    return (to_z_up @ c2w).reshape(16)


def test_camera_of_known_poses():
    cameras = camera_input(torch.tensor([[0.0, 0.0, 2.0], [0.0, 90.0, 1.0], [30.0, 0.0, 3.5]]))
    assert cameras.shape == (3, 16)
    front = torch.tensor([[1, 0, 0, 0], [0, 0, -1, -1], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float32)
    side = torch.tensor([[0, 0, 1, 1], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float32)
    assert torch.allclose(cameras[0], front.flatten(), atol=1e-6)  # our front (+Z) is MVDream's −Y, radius dropped
    assert torch.allclose(cameras[1], side.flatten(), atol=1e-6)
    raised = cameras[2].reshape(4, 4)
    assert torch.allclose(raised[:3, 3], torch.tensor([0.0, -math.cos(math.radians(30)), 0.5]), atol=1e-6)  # Z is up
    assert torch.allclose(raised[:3, :3] @ raised[:3, :3].T, torch.eye(3), atol=1e-6)


@pytest.mark.parametrize("elevation,azimuth", [(15.0, 0.0), (15.0, 90.0), (0.0, 180.0), (-10.0, 270.0), (45.0, 33.0)])
def test_camera_matches_mvdreams_recipe(elevation: float, azimuth: float):
    ours = camera_input(torch.tensor([[elevation, azimuth, 2.7]]))[0]
    assert np.allclose(ours.numpy(), mvdream_reference_camera(elevation, azimuth), atol=1e-5)


def test_camera_is_batched_over_matrices():
    poses = torch.tensor([[10.0, 20.0, 1.5], [20.0, 200.0, 2.0]])
    c2w = spherical_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2])
    assert torch.allclose(mvdream_camera(c2w[None]), camera_input(poses)[None])


# ------------------------------------------------------------------ checkpoint layout


def test_real_config_parses_to_the_defaults():
    assert MVDreamUNetConfig.from_dict(REAL_UNET_CONFIG) == MVDreamUNetConfig()
    assert MVDreamUNetConfig.from_dict({**REAL_UNET_CONFIG, "use_checkpoint": False}) == MVDreamUNetConfig()
    with pytest.raises(ValueError, match="ip_dim"):
        MVDreamUNetConfig.from_dict({**REAL_UNET_CONFIG, "ip_dim": 16})  # ImageDream
    with pytest.raises(ValueError, match="unknown"):
        MVDreamUNetConfig.from_dict({**REAL_UNET_CONFIG, "mystery": 1})


def test_key_mapping_of_the_full_size_model_round_trips():
    with torch.device("meta"):
        model = MultiViewUNet(MVDreamUNetConfig())
    ours = model.unet.state_dict()
    theirs = diffusers_to_mvdream(ours, model.config)
    assert len(theirs) == len(ours) == 690  # SD 2.1's 686 tensors + the camera MLP's 4
    assert sum(t.numel() for t in ours.values()) == 867_572_164
    assert theirs["camera_embed.0.weight"].shape == (1280, 16)
    assert theirs["time_embed.2.weight"].shape == (1280, 1280)
    assert theirs["input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"].shape == (320, 320)
    assert theirs["input_blocks.3.0.op.weight"].shape == (320, 320, 3, 3)
    assert theirs["input_blocks.4.0.skip_connection.weight"].shape == (640, 320, 1, 1)
    assert theirs["middle_block.1.proj_in.weight"].shape == (1280, 1280)
    assert theirs["middle_block.2.emb_layers.1.weight"].shape == (1280, 1280)
    for upsampler in ("output_blocks.2.1.conv.weight", "output_blocks.5.2.conv.weight", "output_blocks.8.2.conv.weight"):
        assert upsampler in theirs
    assert theirs["output_blocks.11.1.transformer_blocks.0.attn2.to_k.weight"].shape == (320, 1024)
    assert theirs["out.2.weight"].shape == (4, 320, 3, 3)
    back = mvdream_to_diffusers(theirs, model.config)
    assert back.keys() == ours.keys() and all(back[k] is ours[k] for k in ours)


def test_key_mapping_refuses_foreign_keys():
    with pytest.raises(ValueError, match="do not fit"):
        mvdream_to_diffusers({"model.diffusion_model.out.2.weight": torch.zeros(1)}, MVDreamUNetConfig())


# ------------------------------------------------------------------ a tiny checkpoint in the real layout


def write_tiny_mvdream(folder: Path) -> Path:
    """Random tiny components of the real classes, saved as ashawkey/mvdream-sd2.1-diffusers lays them out."""
    from diffusers import AutoencoderKL, DDIMScheduler
    from safetensors.torch import save_file
    from tokenizers import pre_tokenizers
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(MODEL_INDEX), encoding="utf-8")
    unet = MultiViewUNet(TINY_UNET)
    (folder / "unet" / "config.json").write_text(json.dumps({**TINY_UNET.to_dict(), "_diffusers_version": "0.25.0"}), encoding="utf-8")
    save_file(diffusers_to_mvdream(unet.unet.state_dict(), TINY_UNET), str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
    AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(32, 32),
        layers_per_block=1,
        latent_channels=4,
        sample_size=16,
        scaling_factor=0.18215,
    ).save_pretrained(folder / "vae")
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1} | {c: 2 + i for i, c in enumerate(alphabet)} | {c + "</w>": 258 + i for i, c in enumerate(alphabet)}
    (folder / "tokenizer").mkdir()
    (folder / "tokenizer" / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "tokenizer" / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer" / "tokenizer_config.json").write_text(json.dumps({"model_max_length": TEXT_LENGTH, "pad_token": "!"}), encoding="utf-8")
    text_config = CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=TINY_UNET.context_dim, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=TEXT_LENGTH, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )
    CLIPTextModel(text_config).save_pretrained(folder / "text_encoder")
    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1).save_pretrained(folder / "scheduler")
    return folder


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_mvdream(tmp_path_factory.mktemp("mvdream") / "tiny")


@pytest.fixture(scope="module")
def teacher(tiny_folder: Path) -> MVDreamTeacher:
    return load_through_registry(load, {"mvdream": tiny_folder})


def ring(groups: int = 1, elevation: float = 15.0) -> torch.Tensor:
    """Poses (4·groups, 3): groups of 4 views 90° apart."""
    azimuths = torch.tensor([0.0, 90.0, 180.0, 270.0]).repeat(groups)
    return torch.stack([torch.full_like(azimuths, elevation), azimuths, torch.full_like(azimuths, 2.0)], dim=-1)


def latents(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 4, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_tiny_checkpoint_loads_through_the_registry(teacher: MVDreamTeacher, tiny_folder: Path):
    from safetensors.torch import load_file

    assert teacher.space == "latent" and teacher.default_guidance == 50.0 and teacher.runtime.dtype == torch.float32
    assert torch.allclose(teacher.schedule.alphas_cumprod, S.NoiseSchedule.scaled_linear().alphas_cumprod, atol=1e-6)
    saved = load_file(str(tiny_folder / "unet" / "diffusion_pytorch_model.safetensors"))
    loaded = diffusers_to_mvdream(teacher.unet.unet.state_dict(), TINY_UNET)
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)
    assert not any(p.requires_grad for p in teacher.unet.parameters())


def test_sds_step_on_four_views_reaches_the_images(teacher: MVDreamTeacher):
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    x = teacher.encode(images)
    assert x.shape == (4, 4, 8, 8)
    condition = Condition(prompt="a wooden chair", poses=ring())
    t = teacher.sample_timesteps(4, 0.02, 0.98, generator=torch.Generator().manual_seed(2))
    result = teacher.sds(x, condition, t, generator=torch.Generator().manual_seed(3))
    assert result.gradient.shape == x.shape and result.x0.shape == x.shape
    assert torch.isfinite(result.gradient).all() and result.gradient.abs().sum() > 0
    sds_loss(x, result.gradient).backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_sampling_step_decodes_to_images(teacher: MVDreamTeacher):
    condition = Condition(prompt="a wooden chair", poses=ring(), guidance_scale=7.5)
    x0 = teacher.sample((4, 4, 8, 8), condition, steps=1, generator=torch.Generator().manual_seed(4))
    assert x0.shape == (4, 4, 8, 8) and torch.isfinite(x0).all()
    images = teacher.decode(x0)
    assert images.shape == (4, 3, 16, 16) and images.min() >= 0.0 and images.max() <= 1.0


def test_self_attention_mixes_the_views_of_a_group_only(teacher: MVDreamTeacher):
    t = torch.full((8,), 500)
    condition = Condition(prompt="a chair", poses=ring(groups=2), guidance_scale=1.0)
    x = latents(8)
    changed = x.clone()
    changed[2] += 1.0  # view 2 of the first group
    before, after = teacher.predict(x, t, condition).eps, teacher.predict(changed, t, condition).eps
    assert (after[0] - before[0]).abs().max() > 1e-4  # view 0 of the same group sees it
    assert torch.allclose(after[4:], before[4:], atol=1e-6)  # the second group does not
    single = MVDreamTeacher(teacher.unet, teacher.scheduler, teacher.vae, teacher.prompts, teacher.runtime, views=1)
    alone_before, alone_after = single.predict(x, t, condition).eps, single.predict(changed, t, condition).eps
    assert torch.allclose(alone_after[[0, 1, 3]], alone_before[[0, 1, 3]], atol=1e-6)  # groups of one: no mixing


def test_camera_changes_the_prediction(teacher: MVDreamTeacher):
    t = torch.full((4,), 300)
    x = latents(4, seed=5)
    turned = ring()
    turned[:, 1] += 45.0
    first = teacher.predict(x, t, Condition(prompt="a chair", poses=ring(), guidance_scale=1.0)).eps
    second = teacher.predict(x, t, Condition(prompt="a chair", poses=turned, guidance_scale=1.0)).eps
    assert (first - second).abs().max() > 1e-3
    farther = ring()
    farther[:, 2] = 5.0  # MVDream's camera is normalised to the unit sphere
    assert torch.allclose(teacher.predict(x, t, Condition(prompt="a chair", poses=farther, guidance_scale=1.0)).eps, first, atol=1e-5)


def test_classifier_free_guidance_is_u_plus_s_times_c_minus_u(teacher: MVDreamTeacher):
    t = torch.tensor([100, 100, 100, 100, 800, 800, 800, 800])
    x = latents(8, seed=6)
    base = Condition(prompt="a red chair", negative_prompt="blurry", poses=ring(groups=2))
    unconditional = teacher.predict(x, t, replace(base, guidance_scale=0.0)).eps
    conditional = teacher.predict(x, t, replace(base, guidance_scale=1.0)).eps
    guided = teacher.predict(x, t, replace(base, guidance_scale=3.0))
    assert (conditional - unconditional).abs().max() > 1e-4  # the prompt matters
    assert torch.allclose(guided.eps, unconditional + 3.0 * (conditional - unconditional), atol=1e-5)
    alpha, sigma = teacher.schedule.coefficients(t, x)
    assert torch.allclose(guided.x0, (x - sigma * guided.eps) / alpha, atol=1e-5)
    default = teacher.predict(x, t, base).eps
    assert torch.allclose(default, unconditional + 50.0 * (conditional - unconditional), atol=1e-4)


def test_batches_must_be_whole_groups_with_poses(teacher: MVDreamTeacher):
    with pytest.raises(ValueError, match="groups of 4"):
        teacher.predict(latents(6), torch.full((6,), 10), Condition(poses=torch.zeros(6, 3)))
    with pytest.raises(ValueError, match="poses"):
        teacher.predict(latents(4), torch.full((4,), 10), Condition())


def test_missing_model_names_mvdream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DISTILL3D_MODEL_MVDREAM", str(tmp_path))
    with pytest.raises(registry.MissingModelError) as error:
        load()
    assert [r.role for r in error.value.missing] == ["mvdream"] and "mvdream" in str(error.value)
    with pytest.raises(registry.MissingModelError):
        load(tmp_path)


def test_a_plain_stable_diffusion_folder_is_refused(tmp_path: Path, tiny_folder: Path):
    import shutil

    folder = shutil.copytree(tiny_folder, tmp_path / "sd")
    (folder / "model_index.json").write_text(json.dumps({**MODEL_INDEX, "unet": ["diffusers", "UNet2DConditionModel"]}), encoding="utf-8")
    with pytest.raises(registry.BrokenModelError, match="not an MVDream checkpoint"):
        load(folder)


@pytest.mark.weights
@pytest.mark.skipif(not registry.resolve("mvdream").present, reason="MVDream weights are not on disk")
def test_real_mvdream_sds_step():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    teacher = load(device=device)
    images = torch.rand(4, 3, 256, 256, generator=torch.Generator().manual_seed(0)).to(device)
    x = teacher.encode(images)
    assert x.shape == (4, 4, 32, 32)
    t = torch.full((4,), 500)
    result = teacher.sds(x, Condition(prompt="a DSLR photo of a wooden chair", poses=ring()), t, generator=torch.Generator().manual_seed(1))
    assert torch.isfinite(result.gradient).all() and result.gradient.abs().sum() > 0
