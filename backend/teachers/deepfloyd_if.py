"""DeepFloyd IF in pixel space: stage I (64²) as a teacher, stage II (64² → 256²) and the two-stage refiner CAD uses.

Stage I reads an ``IFImg2ImgPipeline`` folder (text_encoder T5EncoderModel, tokenizer,
unet, scheduler); stage II an ``IFImg2ImgSuperResolutionPipeline`` folder (unet,
scheduler, image_noising_scheduler) and shares stage I's T5 (the stage II checkpoints
are used with ``text_encoder=None`` in diffusers' examples). Safety checker, feature
extractor and watermarker are not loaded. Both UNets predict a learned variance
(``out_channels`` = 2 × 3): the first three channels are ε̂.

Stage II follows ``IFImg2ImgSuperResolutionPipeline``: the low-resolution image is
upsampled (bilinear, align_corners) to the output size, noised to ``noise_level``
(default 250) with the image-noising scheduler, concatenated to the noisy image, and the
noise level is the UNet's ``class_labels``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import schedule as S
from .base import Condition, noise_like
from .latent_diffusion import PromptEncoder, PromptStyle, Runtime, TextTeacher, load_module, load_scheduler, resize
from .model_folder import model_folder, reading

STAGE1_ROLE = "deepfloyd_if_stage1"
STAGE2_ROLE = "deepfloyd_if_stage2"

STAGE1_GUIDANCE = 10.0
"""Diffusers' ``IFImg2ImgPipeline`` default guidance."""
STAGE2_GUIDANCE = 4.0
"""Diffusers' ``IFImg2ImgSuperResolutionPipeline`` default guidance."""

PROMPT_STYLE = PromptStyle(max_length=77, attention_mask=True, lowercase=True)
"""IF's pipelines: 77 T5 tokens with the padding mask, captions lower-cased and stripped."""


@dataclass(frozen=True)
class DeepFloydOptions:
    """Settings of the two-stage refinement."""

    stage1_strength: float = 0.3
    """Noise strength of the 64² stage (CAD §4 and supplement)."""
    stage2_strength: float = 0.7
    """Noise strength of the 256² stage (CAD §4 and supplement)."""
    noise_level: int = 250
    """Noise-augmentation time-step of the upsampled stage I image (the diffusers default)."""
    augmentation_seed: int = 0
    """Seed of the augmentation noise, so that every stage II call of a refinement sees the same noised image."""


class DeepFloydTeacher(TextTeacher):
    """IF stage I: pixels x = 2·image − 1 at 64² (B, 3, 64, 64); condition ``prompt``, ``negative_prompt``, optional ``poses``."""

    name = STAGE1_ROLE
    space = "pixel"
    default_guidance = STAGE1_GUIDANCE

    def __init__(self, unet: torch.nn.Module, scheduler, prompts: PromptEncoder, runtime: Runtime) -> None:
        super().__init__(unet, scheduler, runtime)
        self.prompts = prompts
        self.image_size = unet.config.sample_size

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] → pixels (B, 3, S, S) in [−1, 1] at the UNet's sample size S."""
        return resize(images, self.image_size) * 2.0 - 1.0


class DeepFloydUpscaler(DeepFloydTeacher):
    """IF stage II: pixels (B, 3, 256, 256); ``condition.image`` holds the (B, 3, h, w) low-resolution images in [0, 1]."""

    name = STAGE2_ROLE
    default_guidance = STAGE2_GUIDANCE

    def __init__(
        self, unet: torch.nn.Module, scheduler, noising_scheduler, prompts: PromptEncoder, runtime: Runtime, options: DeepFloydOptions = DeepFloydOptions()
    ) -> None:
        super().__init__(unet, scheduler, prompts, runtime)
        self.noising = S.NoiseSchedule.from_scheduler(noising_scheduler)
        self.options = options

    def model_input(self, x_t: torch.Tensor, condition: Condition) -> torch.Tensor:
        """``x_t`` (B, 3, H, W) with the noise-augmented upsampled low-resolution image concatenated: (B, 6, H, W)."""
        if condition.image is None or condition.image.shape[0] != x_t.shape[0]:
            raise ValueError("IF stage II needs condition.image: the (B, 3, h, w) low-resolution images to upscale")
        low = condition.image.to(x_t.device, x_t.dtype) * 2.0 - 1.0
        upscaled = F.interpolate(low, size=x_t.shape[-2:], mode="bilinear", align_corners=True)
        generator = torch.Generator().manual_seed(self.options.augmentation_seed)
        noise = noise_like(upscaled, generator)
        level = torch.full((x_t.shape[0],), self.options.noise_level, dtype=torch.long)
        alpha, sigma = self.noising.coefficients(level, upscaled)
        return torch.cat([x_t, S.add_noise(upscaled, noise, alpha, sigma)], dim=1)

    def extras(self, x_t: torch.Tensor, condition: Condition) -> dict[str, torch.Tensor]:
        return {"class_labels": torch.full((x_t.shape[0],), self.options.noise_level, dtype=torch.long, device=self.device)}


class DeepFloydRefiner:
    """CAD's DeepFloyd refinement: SDEdit at 64² with stage I, then at 256² with stage II conditioned on that result."""

    def __init__(self, stage1: DeepFloydTeacher, stage2: DeepFloydUpscaler) -> None:
        self.stage1 = stage1
        self.stage2 = stage2

    @property
    def options(self) -> DeepFloydOptions:
        """Strengths and augmentation (one set, held by stage II)."""
        return self.stage2.options

    def refine_images(self, images: torch.Tensor, condition: Condition, steps: int = 50, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] → refined (B, 3, 256, 256) in [0, 1].

        A ``condition.guidance_scale`` applies to both stages; None uses each stage's default.
        """
        low = self.stage1.refine_images(images, self.options.stage1_strength, condition, steps, generator)
        return self.stage2.refine_images(images, self.options.stage2_strength, replace(condition, image=low), steps, generator)


def load_stage1(
    path: Path | None = None, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None, attention_slicing: bool = False, offload: bool = False
) -> DeepFloydTeacher:
    """IF stage I from ``path`` (default: the registry's ``deepfloyd_if_stage1`` folder); see :class:`Runtime` for the options."""
    runtime = Runtime.create(device, dtype, attention_slicing=attention_slicing, offload=offload)
    folder = model_folder(STAGE1_ROLE, path)
    with reading(STAGE1_ROLE):
        return _stage1(folder, runtime)


def load(
    stage1_path: Path | None = None,
    stage2_path: Path | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    attention_slicing: bool = False,
    offload: bool = False,
    options: DeepFloydOptions = DeepFloydOptions(),
) -> DeepFloydRefiner:
    """Both IF stages (defaults: the registry's folders) as a :class:`DeepFloydRefiner`."""
    from diffusers import UNet2DConditionModel

    runtime = Runtime.create(device, dtype, attention_slicing=attention_slicing, offload=offload)
    stage1_folder, stage2_folder = model_folder(STAGE1_ROLE, stage1_path), model_folder(STAGE2_ROLE, stage2_path)
    with reading(STAGE1_ROLE):
        stage1 = _stage1(stage1_folder, runtime)
    with reading(STAGE2_ROLE):
        stage2 = DeepFloydUpscaler(
            unet=load_module(UNet2DConditionModel, stage2_folder, "unet", runtime),
            scheduler=load_scheduler(stage2_folder),
            noising_scheduler=load_scheduler(stage2_folder, "image_noising_scheduler"),
            prompts=stage1.prompts,
            runtime=runtime,
            options=options,
        )
    return DeepFloydRefiner(stage1, stage2)


def _stage1(folder: Path, runtime: Runtime) -> DeepFloydTeacher:
    from diffusers import UNet2DConditionModel
    from transformers import AutoTokenizer, T5EncoderModel

    text_encoder = load_module(T5EncoderModel, folder, "text_encoder", runtime, encoder=True)
    prompts = PromptEncoder(AutoTokenizer.from_pretrained(folder, subfolder="tokenizer"), text_encoder, runtime, PROMPT_STYLE)
    return DeepFloydTeacher(load_module(UNet2DConditionModel, folder, "unet", runtime), load_scheduler(folder), prompts, runtime)
