"""One interface for every diffusion prior: noise / x̂₀ prediction, guidance, SDS, DDIM, sampling, img2img.

A teacher works in its own space (``latent`` for Stable-Diffusion-like models,
``pixel`` for DeepFloyd IF and the synthetic teacher); :meth:`Teacher.encode` maps
images (B, 3, H, W) in [0, 1] into it and :meth:`Teacher.decode` back. Everything
else is written once here on top of one abstract method, :meth:`Teacher.predict`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from . import schedule as S


@dataclass(frozen=True)
class Condition:
    """What a teacher is asked to denoise towards. Unused fields are ignored by teachers that do not take them."""

    prompt: str = ""
    """Text prompt (SD, ControlNet, IF, MVDream); view-dependent suffixes are added by teachers that use them."""
    negative_prompt: str = ""
    """Text for the unconditional branch of classifier-free guidance."""
    image: torch.Tensor | None = None
    """Images in [0, 1]: the (1, 3, H, W) reference image of Zero-1-to-3, or the (B, 3, h, w) low-resolution
    images DeepFloyd IF's stage II upscales."""
    poses: torch.Tensor | None = None
    """(B, 3) target views as (elevation°, azimuth°, radius), one per batch element (Zero-1-to-3, MVDream, synthetic)."""
    reference_pose: tuple[float, float, float] = (0.0, 0.0, 2.0)
    """(elevation°, azimuth°, radius) of the reference image's camera (Zero-1-to-3)."""
    fov_deg: float = 49.1
    """Vertical field of view of the target views."""
    depth: torch.Tensor | None = None
    """(B, 1, H, W) depth maps, near = large, normalised to [0, 1] (ControlNet-depth)."""
    guidance_scale: float | None = None
    """Classifier-free guidance scale; None uses the teacher's default."""
    view_prompts: Mapping[str, str] | None = None
    """Prompts by view name ('front', 'side', 'back', 'overhead') that replace prompt + view suffix for teachers that
    add suffixes (LLM-augmented prompts, :mod:`backend.teachers.text_model`)."""


@dataclass
class Prediction:
    """A teacher's guided prediction at (x_t, t)."""

    eps: torch.Tensor
    """(B, C, H, W) predicted noise ε̂."""
    x0: torch.Tensor
    """(B, C, H, W) one-step denoised estimate x̂₀."""


@dataclass
class SDSResult:
    """One score-distillation evaluation."""

    gradient: torch.Tensor
    """(B, C, H, W) ∇ with respect to x (apply with :func:`sds_loss` or ``x.backward(gradient)``)."""
    x0: torch.Tensor
    """(B, C, H, W) the teacher's x̂₀ (one step or a DDIM rollout)."""
    t: torch.Tensor
    """(B,) the time-steps used."""


def noise_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, drawn on the generator's device (a CUDA generator works) and moved to ``x``'s."""
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def sds_loss(x: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """A scalar whose gradient with respect to ``x`` is ``gradient`` / B (the usual SDS surrogate)."""
    return (x * gradient.detach()).sum() / x.shape[0]


class Teacher(ABC):
    """A diffusion prior. Subclasses implement :meth:`predict` (and encode/decode for latent models)."""

    name: str = "teacher"
    """Registry role or a descriptive name."""
    space: str = "pixel"
    """``"latent"`` or ``"pixel"``: what :meth:`predict` denoises."""
    default_guidance: float = 7.5
    """Classifier-free guidance scale used when a condition names none."""
    schedule: S.NoiseSchedule
    """ᾱ_t of the teacher's T training time-steps; subclasses set it."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] → the teacher's space (pixel teachers: 2·image − 1)."""
        return images * 2.0 - 1.0

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's space → images (B, 3, H, W) in [0, 1]."""
        return ((x + 1.0) * 0.5).clamp(0.0, 1.0)

    def guidance(self, condition: Condition) -> float:
        return self.default_guidance if condition.guidance_scale is None else condition.guidance_scale

    @abstractmethod
    def predict(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition) -> Prediction:
        """Guided ε̂ and x̂₀ for noisy ``x_t`` (B, C, H, W) at integer time-steps ``t`` (B,)."""

    # -------------------------------------------------------------- built on predict

    def sample_timesteps(self, batch: int, low: float, high: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B,) integer time-steps uniform in [low·T, high·T] (fractions of the schedule)."""
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"time-step range must satisfy 0 ≤ low ≤ high ≤ 1, got [{low}, {high}]")
        steps = self.schedule.steps
        lo, hi = int(round(low * (steps - 1))), int(round(high * (steps - 1)))
        return torch.randint(lo, hi + 1, (batch,), generator=generator)

    def check_timesteps(self, t: torch.Tensor, batch: int) -> None:
        """ValueError unless ``t`` is (batch,) integers in [0, T)."""
        if t.shape != (batch,) or t.dtype.is_floating_point:
            raise ValueError(f"time-steps must be a ({batch},) integer tensor, got {tuple(t.shape)} {t.dtype}")
        if int(t.min()) < 0 or int(t.max()) >= self.schedule.steps:
            raise ValueError(f"time-steps must lie in [0, {self.schedule.steps}), got [{int(t.min())}, {int(t.max())}]")

    def ddim_x0(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition, steps: int) -> torch.Tensor:
        """x̂₀ by a deterministic DDIM rollout x_t → x_{t−r} → … → x̂₀ in ``steps`` teacher calls (steps = 1: one-step x̂₀).

        All batch elements share the rollout length, at most max(t) + 1 calls (no time-step is visited twice);
        each element starts from its own t.
        """
        if steps < 1:
            raise ValueError(f"a DDIM rollout needs at least one step, got {steps}")
        self.check_timesteps(t, x_t.shape[0])
        steps = min(steps, int(t.max()) + 1)
        x = x_t
        start = t.clone()
        prediction = None
        for k in range(steps):
            current = (start.double() * (1.0 - k / steps)).floor().long()  # floor: distinct while steps ≤ t + 1
            prediction = self.predict(x, current, condition)
            if k + 1 < steps:
                following = (start.double() * (1.0 - (k + 1) / steps)).floor().long()
                alpha_next, sigma_next = self.schedule.coefficients(following, x)
                x = S.ddim_step(prediction.x0, prediction.eps, alpha_next, sigma_next)
        return prediction.x0

    def sds(
        self,
        x: torch.Tensor,
        condition: Condition,
        t: torch.Tensor,
        *,
        noise: torch.Tensor | None = None,
        weighting: str = "sigma2",
        x0_steps: int = 1,
        generator: torch.Generator | None = None,
    ) -> SDSResult:
        """Score distillation at ``x`` (B, C, H, W) in the teacher's space: ∇ = ω̄(t)·(x − x̂₀) (DTC123 Eq. 1).

        ``x0_steps`` > 1 takes x̂₀ from a DDIM rollout (DTC123's multi-step x̂₀ for late iterations).
        No gradient flows into the teacher.
        """
        self.check_timesteps(t, x.shape[0])
        with torch.no_grad():
            x = x.detach()
            if noise is None:
                noise = noise_like(x, generator)
            alpha, sigma = self.schedule.coefficients(t, x)
            x_t = S.add_noise(x, noise, alpha, sigma)
            x0 = self.ddim_x0(x_t, t, condition, x0_steps)
            gradient = S.sds_gradient(x, x0, S.sds_weight(weighting, alpha, sigma), alpha, sigma)
        return SDSResult(gradient=gradient, x0=x0, t=t)

    def sample(
        self,
        shape: tuple[int, ...],
        condition: Condition,
        steps: int = 50,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw x₀ (shape) from pure noise by ``steps`` DDIM steps; decode it with :meth:`decode`."""
        noise = noise_like(torch.empty(shape, device=self.device), generator)
        return self._denoise_from(noise, self.schedule.steps - 1, condition, steps)

    def img2img(
        self,
        x0: torch.Tensor,
        strength: float,
        condition: Condition,
        steps: int = 50,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """SDEdit refinement: noise ``x0`` (B, C, H, W) to t = strength·T and denoise it with ⌈strength·steps⌉ DDIM steps."""
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"img2img strength must be in (0, 1], got {strength}")
        start = int(round(strength * (self.schedule.steps - 1)))
        t = torch.full((x0.shape[0],), start, dtype=torch.long)
        alpha, sigma = self.schedule.coefficients(t, x0)
        return self._denoise_from(S.add_noise(x0, noise_like(x0, generator), alpha, sigma), start, condition, max(1, math.ceil(strength * steps)))

    def refine_images(self, images: torch.Tensor, strength: float, condition: Condition, steps: int = 50, generator: torch.Generator | None = None) -> torch.Tensor:
        """img2img on images (B, 3, H, W) in [0, 1] → refined images, through the teacher's space."""
        with torch.no_grad():
            return self.decode(self.img2img(self.encode(images.to(self.device)), strength, condition, steps, generator))

    def _denoise_from(self, x: torch.Tensor, start: int, condition: Condition, steps: int) -> torch.Tensor:
        with torch.no_grad():
            t = torch.full((x.shape[0],), start, dtype=torch.long)
            return self.ddim_x0(x, t, condition, steps)
