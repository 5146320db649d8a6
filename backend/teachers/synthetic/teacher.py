"""The synthetic teacher: a :class:`~backend.teachers.base.Teacher` that knows the ground truth.

Its x̂₀ at a camera is the object's render there, coarsened as t grows: texture
detail fades to the object's mean colour and the image is blurred, so a large t
gives a blurred silhouette and a small t full detail — the behaviour DTC123's
time-step curriculum relies on, made observable. It works in pixel space
(x = 2·image − 1) and ignores classifier-free guidance (it has no unconditional branch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from backend.core.cameras import spherical_to_c2w
from backend.core.mesh_render import MeshRender

from .. import schedule as S
from ..base import Condition, Prediction, Teacher
from .render import SyntheticObject


@dataclass(frozen=True)
class SyntheticTeacherConfig:
    """How the ground truth is coarsened with the time-step."""

    max_blur: float = 0.08
    """Gaussian blur σ at t = T, as a fraction of the image height (σ grows linearly in t)."""
    detail_power: float = 1.0
    """Texture detail left at t is 1 − (t/T)^power (0: flat mean colour)."""
    shaded: bool = False
    """Head-light shading in the renders (off: albedo, the same from every view)."""
    background: float = 1.0
    """Background grey level in [0, 1]."""
    steps: int = 1000
    """Training time-steps T of the noise schedule."""


def gaussian_blur(images: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian blur of images (B, C, H, W) with σ in pixels (σ < 0.3: unchanged); borders replicate."""
    if sigma_px < 0.3:
        return images
    radius = max(1, math.ceil(3 * sigma_px))
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma_px) ** 2)
    kernel = kernel / kernel.sum()
    channels = images.shape[1]
    padded = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    horizontal = F.conv2d(padded, kernel.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(horizontal, kernel.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def coarsen(render: MeshRender, level: torch.Tensor, config: SyntheticTeacherConfig, background: torch.Tensor | None = None) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] of ``render`` at coarseness ``level`` (B,) in [0, 1] (t/T), over ``background`` (B,)
    grey levels (default: the config's)."""
    mask = render.mask[..., None]
    coverage = mask.sum(dim=(1, 2)).clamp_min(1.0)
    mean = (render.rgb * mask).sum(dim=(1, 2)) / coverage  # (B, 3)
    loss = level.clamp(0, 1).pow(config.detail_power).reshape(-1, 1, 1, 1)
    albedo = render.rgb + loss * (mean[:, None, None] - render.rgb)
    grey = config.background if background is None else background.reshape(-1, 1, 1, 1).to(albedo)
    rgb = albedo * mask + grey * (1 - mask)
    images = rgb.permute(0, 3, 1, 2)
    height = images.shape[-2]
    return torch.cat([gaussian_blur(images[i : i + 1], float(level[i]) * config.max_blur * height) for i in range(images.shape[0])])


class SyntheticTeacher(Teacher):
    """Ground-truth teacher for one :class:`SyntheticObject` (condition: ``poses`` and ``fov_deg``)."""

    name = "synthetic"
    space = "pixel"
    default_guidance = 1.0

    def __init__(self, target: SyntheticObject, config: SyntheticTeacherConfig = SyntheticTeacherConfig()) -> None:
        self.target = target
        self.config = config
        self.schedule = S.NoiseSchedule.scaled_linear(steps=config.steps)
        self._cache: tuple[tuple, MeshRender] | None = None

    def render(self, condition: Condition, height: int, width: int) -> MeshRender:
        """The ground truth (rgb, mask, depth, normals) at ``condition.poses`` (B, 3); the last call is cached."""
        if condition.poses is None:
            raise ValueError("the synthetic teacher needs condition.poses (B, 3): elevation°, azimuth°, radius")
        poses = condition.poses.detach().float().cpu()
        key = (tuple(poses.flatten().tolist()), condition.fov_deg, height, width)
        if self._cache is None or self._cache[0] != key:
            c2w = spherical_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2])
            self._cache = (key, self.target.render(c2w, condition.fov_deg, width, height, self.config.shaded, self.config.background))
        return self._cache[1]

    def target_images(self, condition: Condition, t: torch.Tensor, height: int, width: int, background: torch.Tensor | None = None) -> torch.Tensor:
        """Coarsened ground truth (B, 3, H, W) in [0, 1] at time-steps ``t`` (B,), over ``background`` (B,) grey levels
        (default: the config's)."""
        level = t.float().cpu() / (self.schedule.steps - 1)
        return coarsen(self.render(condition, height, width), level, self.config, None if background is None else background.cpu())

    def predict(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition) -> Prediction:
        if condition.poses is not None and condition.poses.shape[0] != x_t.shape[0]:
            raise ValueError(f"condition has {condition.poses.shape[0]} poses for a batch of {x_t.shape[0]}")
        x0 = self.encode(self.target_images(condition, t, x_t.shape[-2], x_t.shape[-1])).to(x_t)
        alpha, sigma = self.schedule.coefficients(t, x_t)
        return Prediction(eps=S.eps_from_x0(x_t, x0, alpha, sigma), x0=x0)
