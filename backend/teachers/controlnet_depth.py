"""ControlNet-depth on Stable Diffusion 1.5: the depth-conditioned prior CAD refines its samples with.

Two folders: the ControlNet (``controlnet_depth``: config.json + weights of a
``ControlNetModel``) and its base ``StableDiffusionPipeline`` (``controlnet_base``).
Each UNet call first runs the ControlNet on the condition's depth map, replicated to
three channels at image resolution with values in [0, 1] (near = bright, as the
MiDaS maps it was trained on), and adds its residuals to the UNet's skip connections
in both guidance branches, as ``StableDiffusionControlNetImg2ImgPipeline`` does.
Refinement is the base class's ``refine_images`` at :data:`STRENGTH`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .base import Condition
from .latent_diffusion import PromptEncoder, Runtime, UNetInputs, load_module, resize, vae_scale_factor
from .model_folder import model_folder, reading
from .stable_diffusion import StableDiffusionTeacher, load_parts

ROLE = "controlnet_depth"
BASE_ROLE = "controlnet_base"

STRENGTH = 0.8
"""CAD's noise strength for ControlNet-depth refinement (paper §4 and supplement)."""

GUIDANCE = 7.5
"""Diffusers' ``StableDiffusionControlNetImg2ImgPipeline`` default (CAD states none)."""


@dataclass(frozen=True)
class ControlNetOptions:
    """How strongly the depth map steers the UNet."""

    conditioning_scale: float = 0.8
    """Multiplier on the ControlNet residuals: 0.8, the default of diffusers'
    ``StableDiffusionControlNetImg2ImgPipeline`` (``controlnet_conditioning_scale``), whose other defaults we follow too."""


def normalise_depth(depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Metric depth (B, 1, H, W) (distance, 0 where empty) → the control image convention (see :func:`normalise_inverse_depth`)."""
    covered = mask > 0.5
    return normalise_inverse_depth(torch.where(covered, 1.0 / depth.clamp_min(1e-6), torch.zeros_like(depth)), mask)


def normalise_inverse_depth(inverse: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Inverse depth (B, 1, H, W) of any scale (a MiDaS/DPT estimate) → the control image convention (B, 1, H, W):
    mapped per image onto [0.1, 1] over ``mask`` (B, 1, H, W) — nearest 1, farthest 0.1 — and the background 0, like
    the MiDaS maps the ControlNet was trained on."""
    covered = mask > 0.5
    flat_inverse, flat_covered = inverse.flatten(1), covered.flatten(1)
    high = torch.where(flat_covered, flat_inverse, torch.full_like(flat_inverse, -torch.inf)).amax(dim=1)
    low = torch.where(flat_covered, flat_inverse, torch.full_like(flat_inverse, torch.inf)).amin(dim=1)
    low, high = (torch.where(torch.isfinite(v), v, torch.zeros_like(v)).reshape(-1, 1, 1, 1) for v in (low, high))
    span = (high - low).clamp_min(1e-6)
    return torch.where(covered, 0.1 + 0.9 * (inverse - low) / span, torch.zeros_like(inverse))


class ControlNetDepthTeacher(StableDiffusionTeacher):
    """SD 1.5 + ControlNet-depth: latents (B, 4, H/8, W/8); condition ``prompt``, ``depth`` (B, 1, H, W) and optional ``poses``."""

    name = ROLE
    default_guidance = GUIDANCE

    def __init__(
        self,
        unet: torch.nn.Module,
        scheduler,
        vae: torch.nn.Module,
        prompts: PromptEncoder,
        controlnet: torch.nn.Module,
        runtime: Runtime,
        options: ControlNetOptions = ControlNetOptions(),
    ) -> None:
        super().__init__(unet, scheduler, vae, prompts, runtime)
        self.controlnet = controlnet
        self.options = options

    def control_image(self, depth: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """Depth (B, 1, H, W) in [0, 1] → the ControlNet's image (B, 3, f·h, f·w) for latents (B, 4, h, w)."""
        if depth.shape[0] != latents.shape[0] or depth.shape[1] != 1:
            raise ValueError(f"depth must be (B, 1, H, W) with B = {latents.shape[0]}, got {tuple(depth.shape)}")
        factor = vae_scale_factor(self.vae)
        height, width = latents.shape[-2] * factor, latents.shape[-1] * factor
        if height != width:
            raise ValueError(f"ControlNet-depth expects square images, got latents {tuple(latents.shape[-2:])}")
        if float(depth.min()) < 0.0 or float(depth.max()) > 1.0:
            raise ValueError("ControlNet-depth wants depth normalised to [0, 1] with near = bright; convert metric depth with normalise_depth()")
        return resize(depth.to(self.device, torch.float32), height).expand(-1, 3, -1, -1)

    def extras(self, x_t: torch.Tensor, condition: Condition) -> dict[str, torch.Tensor]:
        if condition.depth is None:
            raise ValueError("ControlNet-depth needs condition.depth (B, 1, H, W)")
        return {"controlnet_cond": self.control_image(condition.depth, x_t)}

    def denoise(self, inputs: UNetInputs, t: torch.Tensor) -> torch.Tensor:
        dtype = self.runtime.dtype
        sample, context = inputs.sample.to(dtype), inputs.encoder_hidden_states.to(dtype)
        down, middle = self.controlnet(
            sample,
            t,
            encoder_hidden_states=context,
            controlnet_cond=inputs.extras["controlnet_cond"].to(dtype),
            conditioning_scale=self.options.conditioning_scale,
            return_dict=False,
        )
        return self.unet(sample, t, encoder_hidden_states=context, down_block_additional_residuals=down, mid_block_additional_residual=middle).sample


def load(
    path: Path | None = None,
    base_path: Path | None = None,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    attention_slicing: bool = False,
    offload: bool = False,
    options: ControlNetOptions = ControlNetOptions(),
) -> ControlNetDepthTeacher:
    """ControlNet-depth from ``path`` on the SD 1.5 at ``base_path`` (defaults: the registry's folders)."""
    from diffusers import ControlNetModel

    runtime = Runtime.create(device, dtype, attention_slicing=attention_slicing, offload=offload)
    controlnet_folder, base_folder = model_folder(ROLE, path), model_folder(BASE_ROLE, base_path)
    with reading(ROLE):
        controlnet = load_module(ControlNetModel, controlnet_folder, None, runtime)
    with reading(BASE_ROLE):
        return ControlNetDepthTeacher(*load_parts(base_folder, runtime), controlnet=controlnet, runtime=runtime, options=options)
