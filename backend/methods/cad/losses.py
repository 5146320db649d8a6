"""The adversarial losses: non-saturating GAN loss and the lazy R1 penalty (StyleGAN2)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Non-saturating loss of G: mean softplus(−D(G(z))) over scores (B,)."""
    return F.softplus(-fake_scores).mean()


def discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Loss of D: mean softplus(D(G(z))) + mean softplus(−D(x)) over scores (B,) each."""
    return F.softplus(fake_scores).mean() + F.softplus(-real_scores).mean()


def r1_penalty(score: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, gamma: float, interval: int) -> torch.Tensor:
    """Lazy R1: (γ/2)·E‖∇ₓD(x)‖² on ``real`` (B, C, H, W), multiplied by ``interval`` (it runs every ``interval`` steps)."""
    real = real.detach().requires_grad_(True)
    scores = score(real)
    (gradient,) = torch.autograd.grad(scores.sum(), real, create_graph=True, allow_unused=True)
    if gradient is None:  # a discriminator that ignores its input has a flat score
        return scores.sum() * 0.0
    return gradient.square().sum(dim=(1, 2, 3)).mean() * (gamma / 2.0) * interval
