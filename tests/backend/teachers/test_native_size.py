"""Latent teachers see renders at their native size: a 64² render reaches the UNet as sample_size² latents, and the
score-distillation gradient flows back through the resize to the render."""

from types import SimpleNamespace

import pytest
import torch

from backend.teachers import stable_diffusion, zero123
from backend.teachers.base import Condition, sds_loss
from backend.teachers.latent_diffusion import native_image_size
from tests.backend.teachers import tiny_models

pytestmark = pytest.mark.usefixtures("one_thread")

SAMPLE_SIZE = 16
"""Latent side of the tiny UNets here: native images of 128², so a 64² render must be enlarged (as SD's 512² and
Zero-1-to-3's 256² enlarge DTC123's 64² renders)."""


def test_the_native_size_is_the_unet_sample_size_times_the_vae_factor():
    sd_vae = SimpleNamespace(config=SimpleNamespace(block_out_channels=(128, 256, 512, 512)))
    assert native_image_size(SimpleNamespace(config=SimpleNamespace(sample_size=64)), sd_vae) == 512, "SD 1.5 / 2.1 base"
    assert native_image_size(SimpleNamespace(config=SimpleNamespace(sample_size=32)), sd_vae) == 256, "Zero-1-to-3"


@pytest.mark.parametrize("role", ["stable_diffusion", "zero123"])
def test_a_64_render_reaches_the_unet_at_its_sample_size_and_the_gradient_reaches_the_render(tmp_path, role):
    build, load = {"stable_diffusion": (tiny_models.stable_diffusion, stable_diffusion.load), "zero123": (tiny_models.zero123, zero123.load)}[role]
    teacher = tiny_models.load_through_registry(load, {role: build(tmp_path / role, sample_size=SAMPLE_SIZE)})
    seen: list[tuple[int, ...]] = []
    handle = teacher.unet.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    try:
        render = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
        x = teacher.encode(render)
        condition = Condition(prompt="a chair", image=torch.rand(1, 3, 64, 64), poses=torch.tensor([[10.0, 90.0, 2.0]]))
        result = teacher.sds(x, condition, torch.tensor([500]), generator=torch.Generator().manual_seed(1))
    finally:
        handle.remove()
    assert teacher.unet.config.sample_size == SAMPLE_SIZE and seen
    assert all(shape[-2:] == (SAMPLE_SIZE, SAMPLE_SIZE) for shape in seen), seen
    sds_loss(x, result.gradient).backward()
    assert render.grad is not None and render.grad.abs().sum() > 0, "the resize is differentiable"
