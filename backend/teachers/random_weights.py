"""Full-size teachers with random weights, for timing on machines without the checkpoints.

Each is the real teacher class around the real diffusers / transformers model classes at the published
architectures' sizes — Zero123-XL (the SD 1.x UNet with 8 input channels, CLIP ViT-L/14 image encoder,
the SD VAE) and Stable Diffusion 2 base (the SD 2 UNet, the OpenCLIP ViT-H text tower) — so a step costs
what it costs with the real weights (compute does not depend on the weights' values). Nothing is
downloaded: the tokenizer spells prompts letter by letter.
"""

from __future__ import annotations

import string

import torch

from .base import Teacher
from .latent_diffusion import PromptEncoder, Runtime

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
"""CLIP's image normalisation."""


def letters_clip_tokenizer(max_length: int = 77):
    """A ``CLIPTokenizer`` whose vocabulary is single letters (every word is spelled out); needs no files."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in string.ascii_lowercase:
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def sd_scheduler():
    """The DDIM scheduler of SD 1.x / 2 base (scaled-linear betas, ε-prediction)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon",
    )  # fmt: skip


def sd_vae():
    """The Stable Diffusion VAE (AutoencoderKL, 128-256-512-512 channels, 4 latent channels, f = 8)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215,
    )  # fmt: skip


def placed(module: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    """Frozen, eval mode, on the runtime's device and dtype (what ``load_module`` does to loaded weights)."""
    module.to(runtime.device)
    if runtime.dtype != torch.float32:  # built in float32
        module.to(runtime.dtype)
    return module.eval().requires_grad_(False)


def zero123_xl(runtime: Runtime) -> Teacher:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from .zero123 import ClipPreprocess, Zero123Teacher

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, patch_size=14, image_size=224, projection_dim=768, hidden_act="quick_gelu")
    return Zero123Teacher(
        unet=placed(UNet2DConditionModel(sample_size=32, in_channels=8, out_channels=4, cross_attention_dim=768, attention_head_dim=8), runtime),
        scheduler=sd_scheduler(),
        vae=placed(sd_vae(), runtime),
        image_encoder=placed(CLIPVisionModelWithProjection(vision), runtime),
        projection=placed(torch.nn.Linear(768 + 4, 768), runtime),
        preprocess=ClipPreprocess(size=224, mean=CLIP_MEAN, std=CLIP_STD),
        runtime=runtime,
    )


def stable_diffusion_2(runtime: Runtime) -> Teacher:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from .stable_diffusion import StableDiffusionTeacher

    text = CLIPTextConfig(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu", projection_dim=1024)
    unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True)
    prompts = PromptEncoder(letters_clip_tokenizer(), placed(CLIPTextModel(text), runtime), runtime)
    return StableDiffusionTeacher(placed(unet, runtime), sd_scheduler(), placed(sd_vae(), runtime), prompts, runtime)


BUILDERS = {"zero123": zero123_xl, "stable_diffusion": stable_diffusion_2}


def full_size_teacher(role: str, device: str, dtype: torch.dtype | None = None) -> Teacher:
    """A random-weight, full-size teacher for ``role`` ('zero123' or 'stable_diffusion') on ``device``."""
    torch.manual_seed(0)
    return BUILDERS[role](Runtime.create(device, dtype))
