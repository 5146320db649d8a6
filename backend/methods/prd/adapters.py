"""PETA's low-rank adapters as plain modules: LoRA on linear projections, LoCon on convolutions.

Both follow PRD's reference initialisation: the down projection is drawn from N(0, 1/rank), the up projection
starts at zero (so an adapted model starts as its base model), no bias, no alpha scaling (the update is up·down).
The attribute names ``down`` and ``up`` are the published checkpoint's sub-keys
(:mod:`backend.methods.prd.published`).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class LoRA(nn.Module):
    """A rank-r update of a linear layer: x (..., in) → up(down(x)) (..., out)."""

    def __init__(self, in_features: int, out_features: int, rank: int) -> None:
        super().__init__()
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=False)
        nn.init.normal_(self.down.weight, std=1.0 / rank)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x.to(self.down.weight.dtype))).to(x.dtype)


class LoCon(nn.Module):
    """A rank-r update of a convolution: its down projection keeps the wrapped conv's kernel, stride and padding
    (in → rank channels), its up projection is 1×1 (rank → out); (B, in, H, W) → (B, out, H', W')."""

    def __init__(self, conv: nn.Conv2d, rank: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(conv.in_channels, rank, conv.kernel_size, conv.stride, conv.padding, bias=False)
        self.up = nn.Conv2d(rank, conv.out_channels, 1, bias=False)
        nn.init.normal_(self.down.weight, std=1.0 / rank)
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x.to(self.down.weight.dtype))).to(x.dtype)


class AdaptedConv(nn.Module):
    """A frozen convolution plus its :class:`LoCon`: conv(x) + locon(x). Stands in for the conv inside its block
    (so the block's own forward runs unchanged); ``base`` keeps the original weights."""

    def __init__(self, conv: nn.Conv2d, locon: LoCon) -> None:
        super().__init__()
        self.base = conv
        self.locon = locon
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return self.base(x) + self.locon(x)
