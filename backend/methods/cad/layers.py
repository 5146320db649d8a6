"""StyleGAN2 building blocks: equalised-learning-rate layers and the weight-(de)modulated convolution.

Equalised learning rate (Karras et al.): weights are stored N(0, 1/lr_mul²) and scaled by
lr_mul/√fan_in at run time, so Adam's steps are uniform across layers. Resampling is bilinear
(StyleGAN2 uses a [1, 3, 3, 1] FIR filter; the difference is a slight blur).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

LRELU_GAIN = math.sqrt(2.0)
"""Keeps the activations' second moment through leaky ReLU (StyleGAN2's ``def_gain``)."""


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


class EqualLinear(nn.Module):
    """Fully connected (…, in) → (…, out) with equalised learning rate and an optional leaky ReLU."""

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0, activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return lrelu(out) if self.activate else out


class EqualConv2d(nn.Module):
    """k×k convolution (B, in, H, W) → (B, out, H', W') with equalised learning rate; ``down`` halves H and W after it."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, bias: bool = True, activate: bool = True, down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.activate, self.down = activate, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.weight.shape[-1] // 2)
        if self.down:
            out = F.avg_pool2d(out, 2)
        return lrelu(out) if self.activate else out


class ModulatedConv2d(nn.Module):
    """StyleGAN2's convolution whose input channels are scaled by a style from w, then demodulated.

    ``forward(x (B, in, H, W), w (B, w_dim))`` → (B, out, H·s, W·s), s = 2 when ``up``. Without
    demodulation (the to-RGB / to-planes layers) and kernel 1 it is a style-scaled 1×1 projection.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, w_dim: int, demodulate: bool = True, up: bool = False, activate: bool = True) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.demodulate, self.up, self.activate = demodulate, up, activate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch, in_channels, _, _ = x.shape
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        styles = self.affine(w)  # (B, in)
        weight = self.weight[None] * self.weight_gain * styles[:, None, :, None, None]  # (B, out, in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        out_channels, kernel = weight.shape[1], weight.shape[-1]
        out = F.conv2d(x.reshape(1, batch * in_channels, *x.shape[2:]), weight.reshape(batch * out_channels, in_channels, kernel, kernel), padding=kernel // 2, groups=batch)
        out = out.reshape(batch, out_channels, *out.shape[2:]) + self.bias[None, :, None, None]
        return lrelu(out) if self.activate else out


def normalize_second_moment(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """x / RMS(x) along ``dim`` (the mapping network's input normalisation)."""
    return x * torch.rsqrt(x.square().mean(dim=dim, keepdim=True) + 1e-8)
