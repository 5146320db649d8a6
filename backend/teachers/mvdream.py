"""The MVDream teacher: 4-view, camera-conditioned latent diffusion (SD 2.1 based), PRD's multi-view prior.

A batch is groups of ``views`` (4) consecutive views of one object, each with
its pose in ``Condition.poses`` (B, 3) = (elevation°, azimuth°, radius). The network
(:mod:`.mvdream_unet`) attends jointly over a group's views and adds an MLP embedding of each
view's camera to the time embedding.

**Camera convention.** MVDream's camera input is a camera-to-world matrix flattened row by row
to 16 numbers, built (``mvdream/camera_utils.py`` of github.com/bytedance/MVDream) by

1. ``create_camera_to_world_matrix(elevation, azimuth)``: a camera on the *unit* sphere at
   (cos e · sin a, sin e, cos e · cos a) in a Y-up world, looking at the origin, OpenGL camera
   axes (right = forward × up, then −forward as the third column) — exactly our
   :func:`backend.core.cameras.spherical_to_c2w` at radius 1 (same elevation and azimuth
   conventions: azimuth 0 on +Z, the object's front);
2. ``convert_opengl_to_blender``: the world turned Z-up, c2w ← F · c2w with
   F = [[1, 0, 0, 0], [0, 0, −1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], i.e. world (x, y, z) ↦ (x, −z, y);
   this is the inverse of Blender's glTF export map (x, y, z) ↦ (x, z, −y), so our glTF-frame
   object front (+Z) lands on Blender's front (−Y), where MVDream's training renders put it.

threestudio's MVDream guidance (``camera_condition_type="rotation"``) normalises the camera
position to unit length, so the radius does not enter the condition; :func:`mvdream_camera`
does the same. The field of view is not an input of MVDream.

**Checkpoint.** ``ashawkey/mvdream-sd2.1-diffusers`` (registry role ``mvdream``):
``model_index.json`` with ``"unet": ["mv_unet", "MultiViewUNetModel"]``, ``vae`` (diffusers
``AutoencoderKL``), ``text_encoder`` (transformers ``CLIPTextModel``, SD 2.1's OpenCLIP ViT-H
text tower, penultimate layer), ``tokenizer`` (``CLIPTokenizer``), ``scheduler``
(``DDIMScheduler``, scaled-linear β 0.00085 → 0.012, ε-prediction). The UNet folder is read by
:mod:`.mvdream_unet` without running the repo's remote code.

Guidance: threestudio's MVDream SDS recipe (``configs/mvdream-sd21.yaml``,
``multiview_diffusion_guidance.py``) uses classifier-free guidance 50 — our default; its
optional x̂₀ standard-deviation rescale (``recon_std_rescale``) is not applied here.
MVDream was trained at 256² images (32² latents).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from diffusers import AutoencoderKL

from backend.core.cameras import spherical_to_c2w

from .base import Condition
from .latent_diffusion import LatentTeacher, PromptEncoder, Runtime, TextTeacher, UNetInputs, load_module, load_scheduler, vae_scale_factor
from .model_folder import model_folder, read_weights, reading
from .mvdream_unet import UNET_CLASS_NAME, MultiViewUNet, MVDreamUNetConfig

logger = logging.getLogger(__name__)

ROLE = "mvdream"
"""Registry role of the checkpoint."""

UNET_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
"""UNet weight files looked for in ``unet/``, in order."""

OPENGL_TO_MVDREAM_WORLD = torch.tensor(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
"""MVDream's ``convert_opengl_to_blender``: left-multiplied onto a Y-up c2w, it turns the world Z-up, (x, y, z) ↦ (x, −z, y)."""


GUIDANCE = 50.0
"""Default classifier-free guidance: threestudio's MVDream SDS setting (image sampling uses ≈ 5–10)."""

VIEWS = 4
"""Views per group attending to each other (the checkpoint is trained with 4)."""


def mvdream_camera(c2w: torch.Tensor) -> torch.Tensor:
    """MVDream's camera input (..., 16) for camera-to-world matrices (..., 4, 4) in our (glTF, Y-up) world.

    The camera position is scaled onto the unit sphere, the world is turned into MVDream's
    Z-up frame and the matrix is flattened row-major.
    """
    position = c2w[..., :3, 3:]
    unit = position / (position.norm(dim=-2, keepdim=True) + 1e-8)
    normalised = torch.cat([torch.cat([c2w[..., :3, :3], unit], dim=-1), c2w[..., 3:, :]], dim=-2)
    return (OPENGL_TO_MVDREAM_WORLD.to(c2w) @ normalised).flatten(-2)


def camera_input(poses: torch.Tensor) -> torch.Tensor:
    """MVDream's camera input (B, 16) for poses (B, 3) = (elevation°, azimuth°, radius)."""
    return mvdream_camera(spherical_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2]))


class MVDreamTeacher(TextTeacher, LatentTeacher):
    """MVDream in latent space (B, 4, h, w); the condition needs ``poses`` (B, 3) with B a multiple of ``views``.

    Guidance, prompt caching and the VAE come from :mod:`.latent_diffusion`; the prompt gets no
    view suffix (the camera is an input of the network).
    """

    name = ROLE
    default_guidance = GUIDANCE
    view_dependent = False

    def __init__(self, unet: MultiViewUNet, scheduler, vae: torch.nn.Module, prompts: PromptEncoder, runtime: Runtime, views: int = VIEWS) -> None:
        if views < 1:
            raise ValueError(f"views must be at least 1, got {views}")
        super().__init__(unet, scheduler, runtime)
        self.vae = vae
        self.prompts = prompts
        self.views = views
        self.image_size = unet.config.image_size * vae_scale_factor(vae)  # the training resolution, 256² for the real model

    def extras(self, x_t: torch.Tensor, condition: Condition) -> dict[str, torch.Tensor]:
        """Each view's camera input (B, 16), after checking the batch is whole groups with one pose per view."""
        batch = x_t.shape[0]
        if condition.poses is None or condition.poses.shape != (batch, 3):
            raise ValueError(f"MVDream needs condition.poses of shape ({batch}, 3), got {None if condition.poses is None else tuple(condition.poses.shape)}")
        if batch % self.views:
            raise ValueError(f"MVDream denoises groups of {self.views} views; a batch of {batch} is not a whole number of groups")
        return {"camera": camera_input(condition.poses.to(self.device, torch.float32))}

    def denoise(self, inputs: UNetInputs, t: torch.Tensor) -> torch.Tensor:
        return self.unet(inputs.sample, t, inputs.encoder_hidden_states, inputs.extras["camera"], self.views)


# ------------------------------------------------------------------ loading


def load_unet(folder: Path, device: torch.device | str, dtype: torch.dtype) -> MultiViewUNet:
    """The multi-view UNet from MVDream's ``unet/`` folder (``config.json`` + weights in MVDream's own naming)."""
    raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if raw.get("_class_name", UNET_CLASS_NAME) != UNET_CLASS_NAME:
        raise ValueError(f"{folder / 'config.json'} describes a {raw['_class_name']}, not MVDream's {UNET_CLASS_NAME}")
    config = MVDreamUNetConfig.from_dict(raw)
    with torch.device("meta"):
        unet = MultiViewUNet(config)
    unet.load_mvdream_state_dict(read_weights(folder, UNET_WEIGHTS))
    return unet.to(device=device, dtype=dtype)


def load(
    path: Path | str | None = None,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    views: int = VIEWS,
    offload: bool = False,
) -> MVDreamTeacher:
    """The MVDream teacher from a diffusers-format folder (None: the registry's ``mvdream``); nothing is downloaded.

    See :class:`~backend.teachers.latent_diffusion.Runtime` for ``dtype`` (float16 on CUDA by default)
    and ``offload``. There is no attention slicing: diffusers' slicing processors would replace the
    multi-view attention, which already runs through PyTorch's memory-efficient
    ``scaled_dot_product_attention``. Raises :class:`~backend.teachers.registry.MissingModelError`
    when the model is not on disk.
    """
    from transformers import CLIPTextModel, CLIPTokenizer

    runtime = Runtime.create(device, dtype, offload=offload)
    folder = model_folder(ROLE, path)
    with reading(ROLE):
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        unet_entry = index.get("unet") or [None, None]
        if unet_entry[-1] != UNET_CLASS_NAME:
            raise ValueError(f"{folder} is not an MVDream checkpoint: its model_index.json names the UNet {unet_entry!r}, expected [..., {UNET_CLASS_NAME!r}]")
        unet = load_unet(folder / "unet", runtime.device, runtime.dtype)
        unet.eval().requires_grad_(False)
        text_encoder = load_module(CLIPTextModel, folder, "text_encoder", runtime, encoder=True)
        prompts = PromptEncoder(CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer"), text_encoder, runtime)
        vae = load_module(AutoencoderKL, folder, "vae", runtime)
        teacher = MVDreamTeacher(unet, load_scheduler(folder), vae, prompts, runtime, views)
    logger.info("loaded MVDream from %s on %s (%s)", folder, runtime.device, runtime.dtype)
    return teacher
