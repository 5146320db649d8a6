"""Zero-1-to-3 / Zero123-XL: a latent teacher conditioned on one reference image and a relative camera.

Checkpoint layout (diffusers conversions): ``model_index.json``, ``vae`` (AutoencoderKL),
``image_encoder`` (CLIPVisionModelWithProjection), ``unet`` (UNet2DConditionModel,
8 input channels), ``scheduler`` (DDIMScheduler), ``feature_extractor``
(CLIPImageProcessor config) and the 772 → 768 camera projection, stored either as
``clip_camera_projection/`` (``Zero123Pipeline`` of threestudio / stable-dreamfusion,
the layout of bennyguo/zero123-xl-diffusers and ashawkey/zero123-xl-diffusers; weights
``proj.*``) or as ``cc_projection/`` (diffusers' community ``Zero1to3StableDiffusionPipeline``,
kxic/zero123-xl; weights ``projection.*``). Either folder has a config.json and
``diffusion_pytorch_model.safetensors`` (or ``.bin``).

Conditioning, as in the original model and those pipelines:

* cross-attention context = projection([CLIP image embedding, Δpolar (rad), sin Δazimuth,
  cos Δazimuth, Δradius]) of shape (B, 1, 768);
* the reference image's VAE posterior mode (= mean), **not** multiplied by the VAE
  scaling factor, concatenated to the noisy latent (4 + 4 channels);
* the unconditional branch zeroes both the projected context and the reference latent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from backend.core.cameras import zero123_relative_pose

from .base import Condition
from .latent_diffusion import LatentTeacher, Runtime, UNetInputs, load_module, load_scheduler, native_image_size, on_device, resize, vae_latents
from .model_folder import model_folder, read_weights, reading

ROLE = "zero123"

GUIDANCE = 5.0
"""DTC123 §5.1 runs Zero123-XL at cfg = 5 (threestudio's zero123-unified and magic123 configs use 5 too)."""

WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
"""Weight files of a diffusers model folder, in order of preference."""

PROJECTION_FOLDERS = {"clip_camera_projection": "proj", "cc_projection": "projection"}
"""Camera-projection sub-folders of the two diffusers layouts → the name of their Linear layer."""


@dataclass(frozen=True)
class ClipPreprocess:
    """How the CLIP image encoder wants its input (from ``feature_extractor/preprocessor_config.json``)."""

    size: int
    """Square input side (CLIP ViT-L/14: 224)."""
    mean: tuple[float, float, float]
    """Per-channel mean subtracted after resizing."""
    std: tuple[float, float, float]
    """Per-channel standard deviation divided by."""

    @classmethod
    def from_folder(cls, folder: Path) -> "ClipPreprocess":
        config = json.loads((folder / "preprocessor_config.json").read_text(encoding="utf-8"))
        crop = config["crop_size"]
        size = crop["height"] if isinstance(crop, dict) else crop
        return cls(size=int(size), mean=tuple(config["image_mean"]), std=tuple(config["image_std"]))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Square images (B, 3, H, W) in [0, 1] → normalised (B, 3, size, size) (resize + centre crop coincide for squares)."""
        resized = resize(images, self.size, mode="bicubic").clamp(0.0, 1.0)
        mean = torch.tensor(self.mean, device=images.device, dtype=images.dtype).reshape(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device, dtype=images.dtype).reshape(1, 3, 1, 1)
        return (resized - mean) / std


@dataclass(frozen=True)
class Reference:
    """The encoded reference image."""

    image: torch.Tensor
    """(1, 3, H, W) the image it was computed from (the cache key)."""
    embedding: torch.Tensor
    """(1, 1, D) CLIP image embedding."""
    latent: torch.Tensor
    """(1, 4, 32, 32) VAE posterior mean, unscaled."""


def load_camera_projection(folder: Path, runtime: Runtime) -> torch.nn.Linear:
    """The (D + 4) → D camera projection of either layout (see the module docstring) as a frozen Linear."""
    for subfolder, layer in PROJECTION_FOLDERS.items():
        if (folder / subfolder).is_dir():
            state = read_weights(folder / subfolder, WEIGHT_FILES)
            weight, bias = state[f"{layer}.weight"], state[f"{layer}.bias"]
            projection = torch.nn.Linear(weight.shape[1], weight.shape[0])
            projection.load_state_dict({"weight": weight, "bias": bias})
            return projection.to(device=runtime.device, dtype=runtime.dtype).eval().requires_grad_(False)
    raise FileNotFoundError(f"{folder} has no camera projection (looked for {', '.join(PROJECTION_FOLDERS)})")


class Zero123Teacher(LatentTeacher):
    """Zero-1-to-3: latents (B, 4, 32, 32) of images resized to its native 256² (the UNet's ``sample_size`` × the VAE's
    factor, :func:`native_image_size`); condition ``image``, ``poses`` and ``reference_pose``."""

    name = ROLE
    default_guidance = GUIDANCE

    def __init__(
        self,
        unet: torch.nn.Module,
        scheduler,
        vae: torch.nn.Module,
        image_encoder: torch.nn.Module,
        projection: torch.nn.Linear,
        preprocess: ClipPreprocess,
        runtime: Runtime,
    ) -> None:
        super().__init__(unet, scheduler, runtime)
        self.vae = vae
        self.image_encoder = image_encoder
        self.projection = projection
        self.preprocess = preprocess
        self.image_size = native_image_size(unet, vae)
        self._reference: Reference | None = None

    def reference(self, image: torch.Tensor) -> Reference:
        """The CLIP embedding and unscaled latent of a reference image (1, 3, H, W) in [0, 1]; the last one is cached."""
        image = image.to(self.device, torch.float32)
        cached = self._reference
        if cached is not None and cached.image.shape == image.shape and torch.equal(cached.image, image):
            return cached
        with torch.no_grad():
            square = resize(image, self.image_size)
            with on_device(self.image_encoder, self.runtime) as encoder:
                pixels = self.preprocess(square).to(next(encoder.parameters()))
                embedding = encoder(pixel_values=pixels).image_embeds
            latent = vae_latents(self.vae, square, scaled=False)
        self._reference = Reference(image=image.clone(), embedding=embedding[:, None].to(self.device, torch.float32), latent=latent)
        return self._reference

    def camera_context(self, reference: Reference, condition: Condition) -> torch.Tensor:
        """Projected (image, relative camera) context (B, 1, D) for the condition's target poses (B, 3)."""
        poses = condition.poses.to(self.device, torch.float32)
        start = tuple(torch.full_like(poses[:, 0], value) for value in condition.reference_pose)
        relative = zero123_relative_pose(start, tuple(poses.unbind(-1)))
        tokens = torch.cat([reference.embedding.expand(poses.shape[0], -1, -1), relative[:, None]], dim=-1)
        return self.projection(tokens.to(self.runtime.dtype))

    def branches(self, x_t: torch.Tensor, condition: Condition) -> tuple[UNetInputs, UNetInputs]:
        if condition.image is None or condition.poses is None:
            raise ValueError("Zero-1-to-3 needs condition.image (the reference) and condition.poses (the target views)")
        if condition.poses.shape[0] != x_t.shape[0]:
            raise ValueError(f"got {condition.poses.shape[0]} poses for a batch of {x_t.shape[0]}")
        if condition.image.dim() != 4 or condition.image.shape[:2] != (1, 3):
            raise ValueError(f"Zero-1-to-3 takes one reference image (1, 3, H, W), got {tuple(condition.image.shape)}")
        reference = self.reference(condition.image)
        context = self.camera_context(reference, condition)
        latent = reference.latent.to(x_t.dtype).expand(x_t.shape[0], -1, -1, -1)
        unconditional = UNetInputs(torch.cat([x_t, torch.zeros_like(latent)], dim=1), torch.zeros_like(context))
        conditional = UNetInputs(torch.cat([x_t, latent], dim=1), context)
        return unconditional, conditional


def load(
    path: Path | None = None, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None, attention_slicing: bool = False, offload: bool = False
) -> Zero123Teacher:
    """Zero-1-to-3 from ``path`` (default: the registry's ``zero123`` folder); see :class:`Runtime` for the options."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPVisionModelWithProjection

    runtime = Runtime.create(device, dtype, attention_slicing=attention_slicing, offload=offload)
    folder = model_folder(ROLE, path)
    with reading(ROLE):
        return Zero123Teacher(
            unet=load_module(UNet2DConditionModel, folder, "unet", runtime),
            scheduler=load_scheduler(folder),
            vae=load_module(AutoencoderKL, folder, "vae", runtime),
            image_encoder=load_module(CLIPVisionModelWithProjection, folder, "image_encoder", runtime, encoder=True),
            projection=load_camera_projection(folder, runtime),
            preprocess=ClipPreprocess.from_folder(folder / "feature_extractor"),
            runtime=runtime,
        )
