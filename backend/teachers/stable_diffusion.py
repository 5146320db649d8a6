"""Stable Diffusion 2.x as a text-conditioned latent teacher (DTC123's texture prior, PRD's generator).

Reads a ``StableDiffusionPipeline`` folder (model_index.json, vae, text_encoder, tokenizer,
unet, scheduler); the safety checker, if any, is not loaded. Renders of any size are resized to the
model's native size (the UNet's ``sample_size`` × the VAE's factor: 512² for SD 1.5 / 2.1 base, 64² latents)
before encoding. Prompts get view-dependent
suffixes from the condition's poses (:func:`~backend.teachers.latent_diffusion.view_prompts`).
ε- and v-prediction checkpoints (SD 2.x base / 768) both work.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .latent_diffusion import LatentTeacher, PromptEncoder, Runtime, TextTeacher, load_module, load_scheduler, native_image_size
from .model_folder import model_folder, reading

ROLE = "stable_diffusion"

GUIDANCE = 25.0
"""DTC123 §5.1 runs its Stable Diffusion texture teacher at cfg = 25 (DreamFusion-style text-to-3D SDS uses 100)."""


class StableDiffusionTeacher(TextTeacher, LatentTeacher):
    """Stable Diffusion: latents (B, 4, S/8, S/8) of images resized to the native S² (:func:`native_image_size`);
    condition ``prompt``, ``negative_prompt`` and optional ``poses``."""

    name = ROLE
    default_guidance = GUIDANCE

    def __init__(self, unet: torch.nn.Module, scheduler, vae: torch.nn.Module, prompts: PromptEncoder, runtime: Runtime) -> None:
        super().__init__(unet, scheduler, runtime)
        self.vae = vae
        self.prompts = prompts
        self.image_size = native_image_size(unet, vae)


def load_parts(folder: Path, runtime: Runtime) -> tuple[torch.nn.Module, object, torch.nn.Module, PromptEncoder]:
    """(unet, scheduler, vae, prompt encoder) of a ``StableDiffusionPipeline`` folder."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    text_encoder = load_module(CLIPTextModel, folder, "text_encoder", runtime, encoder=True)
    prompts = PromptEncoder(AutoTokenizer.from_pretrained(folder, subfolder="tokenizer"), text_encoder, runtime)
    unet = load_module(UNet2DConditionModel, folder, "unet", runtime)
    vae = load_module(AutoencoderKL, folder, "vae", runtime)
    return unet, load_scheduler(folder), vae, prompts


def load(
    path: Path | None = None, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None, attention_slicing: bool = False, offload: bool = False
) -> StableDiffusionTeacher:
    """Stable Diffusion from ``path`` (default: the registry's ``stable_diffusion`` folder); see :class:`Runtime` for the options."""
    runtime = Runtime.create(device, dtype, attention_slicing=attention_slicing, offload=offload)
    folder = model_folder(ROLE, path)
    with reading(ROLE):
        return StableDiffusionTeacher(*load_parts(folder, runtime), runtime)
