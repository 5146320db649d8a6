"""Diffusion noise-schedule math as pure functions (variance preserving, discrete time-steps).

A time-step ``t`` is an integer in [0, T); ``alpha`` = √ᾱ_t and ``sigma`` = √(1 − ᾱ_t),
so a noisy sample is x_t = alpha·x₀ + sigma·ε. Per-sample coefficients are
broadcast as (B, 1, 1, 1) against (B, C, H, W) tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NoiseSchedule:
    """ᾱ_t for the T discrete time-steps of a teacher."""

    alphas_cumprod: torch.Tensor
    """(T,) float32, decreasing from ≈1 to ≈0."""

    @classmethod
    def scaled_linear(cls, beta_start: float = 0.00085, beta_end: float = 0.012, steps: int = 1000) -> "NoiseSchedule":
        """Stable Diffusion's schedule: betas linear in √β between ``beta_start`` and ``beta_end``."""
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
        return cls(torch.cumprod(1.0 - betas, dim=0).float())

    @classmethod
    def from_scheduler(cls, scheduler) -> "NoiseSchedule":
        """The schedule of a diffusers scheduler (anything with ``alphas_cumprod``)."""
        return cls(torch.as_tensor(scheduler.alphas_cumprod, dtype=torch.float32).clone())

    @property
    def steps(self) -> int:
        """T, the number of training time-steps."""
        return self.alphas_cumprod.shape[0]

    def coefficients(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, sigma), each (B, 1, …, 1) shaped to broadcast against ``like`` (B, …), for time-steps ``t`` (B,)."""
        t = t.to(device=self.alphas_cumprod.device, dtype=torch.long).clamp(0, self.steps - 1)
        abar = self.alphas_cumprod[t].to(device=like.device, dtype=like.dtype)
        shape = (-1,) + (1,) * (like.dim() - 1)
        return abar.sqrt().reshape(shape), (1.0 - abar).clamp_min(0.0).sqrt().reshape(shape)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_t = alpha·x₀ + sigma·ε."""
    return alpha * x0 + sigma * noise


def x0_from_eps(x_t: torch.Tensor, eps: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The one-step denoised estimate x̂₀ = (x_t − sigma·ε̂) / alpha."""
    return (x_t - sigma * eps) / alpha


def eps_from_x0(x_t: torch.Tensor, x0: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The noise ε̂ = (x_t − alpha·x̂₀) / sigma implied by an x̂₀ estimate."""
    return (x_t - alpha * x0) / sigma.clamp_min(1e-8)


def eps_from_v(x_t: torch.Tensor, v: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """ε̂ from a v-prediction (v = alpha·ε − sigma·x₀)."""
    return sigma * x_t + alpha * v


def dynamic_threshold(x0: torch.Tensor, ratio: float, max_value: float) -> torch.Tensor:
    """Imagen's dynamic thresholding of x̂₀ (B, …), as diffusers' schedulers apply it: per sample, s = the ``ratio``
    quantile of |x̂₀| clamped to [1, ``max_value``]; x̂₀ is clamped to [−s, s] and divided by s."""
    magnitude = x0.reshape(x0.shape[0], -1).abs().float()
    s = torch.quantile(magnitude, ratio, dim=1).clamp(1.0, max_value).reshape(-1, *([1] * (x0.dim() - 1)))
    return (torch.maximum(torch.minimum(x0.float(), s), -s) / s).to(x0.dtype)


def classifier_free_guidance(unconditional: torch.Tensor, conditional: torch.Tensor, scale: float) -> torch.Tensor:
    """ε̂ = ε_u + scale·(ε_c − ε_u)."""
    return unconditional + scale * (conditional - unconditional)


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, alpha_next: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
    """Deterministic DDIM (η = 0): x_{t'} = alpha_{t'}·x̂₀ + sigma_{t'}·ε̂."""
    return alpha_next * x0 + sigma_next * eps


def sds_weight(kind: str, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """ω(t) of score distillation: ``"sigma2"`` (1 − ᾱ_t, DreamFusion's choice), ``"uniform"`` (1) or ``"snr"`` (ᾱ/(1 − ᾱ))."""
    if kind == "sigma2":
        return sigma**2
    if kind == "uniform":
        return torch.ones_like(sigma)
    if kind == "snr":
        return alpha**2 / sigma.clamp_min(1e-8) ** 2
    raise ValueError(f"unknown SDS weighting {kind!r}: use 'sigma2', 'uniform' or 'snr'")


def sds_gradient(x: torch.Tensor, x0: torch.Tensor, omega: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """DTC123's Eq. 1: ∇ = ω̄(t)·(x − x̂₀) with ω̄(t) = ω(t)·alpha/sigma.

    This equals ω(t)·(ε̂ − ε) exactly for x_t = alpha·x + sigma·ε (the paper writes
    ω̄ = ω/σ_t in its alpha-free notation), and it stays meaningful when x̂₀ comes from a
    multi-step DDIM rollout instead of one denoising step.
    """
    return omega * alpha / sigma.clamp_min(1e-8) * (x - x0)
