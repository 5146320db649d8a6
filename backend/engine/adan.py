"""Adan (Xie et al., 2022): adaptive Nesterov momentum, the optimiser DTC123 trains both stages with and PRD trains its adapters with.

No maintained PyPI package fits (``adan-pytorch`` is unmaintained and lacks the decoupled,
proximal weight decay of the paper's Algorithm 1), so it is written here from the paper:

    m_k = β₁ m_{k−1} + (1 − β₁) g_k
    v_k = β₂ v_{k−1} + (1 − β₂)(g_k − g_{k−1})
    n_k = β₃ n_{k−1} + (1 − β₃)[g_k + β₂ (g_k − g_{k−1})]²
    θ_{k+1} = (θ_k − η · (m̂_k + β₂ v̂_k) / (√n̂_k + ε)) / (1 + λη)

with bias-corrected m̂, v̂, n̂ and g_0 taken as g_1 (no difference at the first step). β are
written in the usual "keep" convention (β₁ = 0.98 keeps 98 % of the old average).
"""

from __future__ import annotations

import torch


class Adan(torch.optim.Optimizer):
    """Adan with decoupled proximal weight decay; defaults β = (0.98, 0.92, 0.99), ε = 1e-8 (the paper's)."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float, float] = (0.98, 0.92, 0.99), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if lr <= 0 or eps <= 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid Adan settings: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2, beta3 = group["betas"]
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_diff"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                    state["previous_grad"] = grad.clone()
                state["step"] += 1
                k = state["step"]
                difference = grad - state["previous_grad"]
                state["exp_avg"].mul_(beta1).add_(grad, alpha=1 - beta1)
                state["exp_avg_diff"].mul_(beta2).add_(difference, alpha=1 - beta2)
                nesterov = grad + beta2 * difference
                state["exp_avg_sq"].mul_(beta3).addcmul_(nesterov, nesterov, value=1 - beta3)
                denominator = (state["exp_avg_sq"] / (1 - beta3**k)).sqrt_().add_(eps)
                update = state["exp_avg"] / (1 - beta1**k) + beta2 * state["exp_avg_diff"] / (1 - beta2**k)
                param.addcdiv_(update, denominator, value=-lr).div_(1 + lr * decay)
                state["previous_grad"].copy_(grad)
        return loss

