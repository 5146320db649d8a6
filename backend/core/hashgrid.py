"""Multi-resolution hash-grid encoding (Instant-NGP) in plain PyTorch.

Level l (0-based, coarsest first) has a grid of resolution
``floor(base · s^l)`` with ``s = (max / base)^(1 / (L − 1))``; grid vertices
sit at integer coordinates of ``x · resolution`` for x in [0, 1]³. A level
whose ``(resolution + 1)³`` vertices fit in the table is indexed densely, the
others through Instant-NGP's spatial hash ``(i·1 ⊕ j·2654435761 ⊕ k·805459861) mod T``.
Features are interpolated trilinearly from the 8 surrounding vertices.

When ``tinycudann`` is importable and the input is on CUDA, :class:`HashGridEncoding`
uses its fused kernel with the same configuration (its parameter layout differs,
so checkpoints are per backend).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import torch
import torch.nn as nn

PRIMES = (1, 2654435761, 805459861)


@dataclass(frozen=True)
class HashGridConfig:
    """The encoding's size (Instant-NGP's defaults)."""

    levels: int = 16
    """Number of resolution levels L (1…32)."""
    features_per_level: int = 2
    """Features stored per vertex and level (1…8)."""
    log2_table_size: int = 19
    """log2 of the entries T per level (4…24)."""
    base_resolution: int = 16
    """Resolution of the coarsest level (≥ 2)."""
    max_resolution: int = 2048
    """Resolution of the finest level (≥ base_resolution)."""

    def __post_init__(self) -> None:
        if not (1 <= self.levels <= 32 and 1 <= self.features_per_level <= 8 and 4 <= self.log2_table_size <= 24):
            raise ValueError(f"hash grid: levels 1…32, features_per_level 1…8, log2_table_size 4…24, got {self}")
        if not 2 <= self.base_resolution <= self.max_resolution:
            raise ValueError(f"hash grid: need 2 ≤ base_resolution ≤ max_resolution, got {self.base_resolution} and {self.max_resolution}")

    @property
    def per_level_scale(self) -> float:
        if self.levels == 1:
            return 1.0
        return math.exp(math.log(self.max_resolution / self.base_resolution) / (self.levels - 1))

    @property
    def resolutions(self) -> list[int]:
        return [int(math.floor(self.base_resolution * self.per_level_scale**level + 1e-6)) for level in range(self.levels)]

    @property
    def output_dim(self) -> int:
        return self.levels * self.features_per_level


_CORNERS = torch.tensor([[(c >> 0) & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)])


def encode_level(x: torch.Tensor, table: torch.Tensor, resolution: int) -> torch.Tensor:
    """Features (N, F) of points ``x`` (N, 3) in [0, 1]³ from one level's ``table`` (T, F)."""
    size = table.shape[0]
    position = x * resolution
    base = torch.floor(position).long().clamp(0, resolution - 1)
    frac = position - base  # (N, 3), differentiable w.r.t. x
    corners = base[:, None, :] + _CORNERS.to(x.device)  # (N, 8, 3)
    if (resolution + 1) ** 3 <= size:
        index = corners[..., 0] + corners[..., 1] * (resolution + 1) + corners[..., 2] * (resolution + 1) ** 2
    else:
        index = (corners[..., 0] * PRIMES[0]) ^ (corners[..., 1] * PRIMES[1]) ^ (corners[..., 2] * PRIMES[2])
        index = index & (size - 1)
    offsets = _CORNERS.to(x.dtype).to(x.device)  # (8, 3)
    weights = torch.where(offsets.bool(), frac[:, None, :], 1.0 - frac[:, None, :]).prod(dim=-1)  # (N, 8)
    return (table[index] * weights[..., None]).sum(dim=1)


def hash_encode(x: torch.Tensor, tables: torch.Tensor, resolutions: list[int], mask: torch.Tensor | None = None) -> torch.Tensor:
    """Encoding (N, L·F) of points (N, 3) in [0, 1]³; ``tables`` (L, T, F); ``mask`` (L,) scales each level."""
    levels = [encode_level(x, tables[level], resolution) for level, resolution in enumerate(resolutions)]
    features = torch.stack(levels, dim=1)  # (N, L, F)
    if mask is not None:
        features = features * mask.to(features)[None, :, None]
    return features.flatten(1)


def _tcnn_importable() -> bool:
    return importlib.util.find_spec("tinycudann") is not None


class HashGridEncoding(nn.Module):
    """Encodes world points in ``bounds³`` as (N, L·F) features; ``mask`` (L,) hides levels (e.g. DTC123's band mask).

    ``use_tcnn``: None picks tiny-cuda-nn when it is importable and CUDA is available.
    """

    def __init__(self, config: HashGridConfig = HashGridConfig(), bounds: tuple[float, float] = (-1.0, 1.0), use_tcnn: bool | None = None) -> None:
        super().__init__()
        self.config = config
        self.bounds = bounds
        self.tcnn = None
        if use_tcnn is None:
            use_tcnn = torch.cuda.is_available() and _tcnn_importable()
        if use_tcnn:
            import tinycudann

            self.tcnn = tinycudann.Encoding(
                3,
                {
                    "otype": "HashGrid",
                    "n_levels": config.levels,
                    "n_features_per_level": config.features_per_level,
                    "log2_hashmap_size": config.log2_table_size,
                    "base_resolution": config.base_resolution,
                    "per_level_scale": config.per_level_scale,
                },
                dtype=torch.float32,
            )
        else:
            size = 1 << config.log2_table_size
            self.tables = nn.Parameter(torch.empty(config.levels, size, config.features_per_level).uniform_(-1e-4, 1e-4))

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    def forward(self, points: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        lo, hi = self.bounds
        x = ((points - lo) / (hi - lo)).clamp(0.0, 1.0)
        if self.tcnn is not None:
            features = self.tcnn(x).float().reshape(x.shape[0], self.config.levels, self.config.features_per_level)
            if mask is not None:
                features = features * mask.to(features)[None, :, None]
            return features.flatten(1)
        return hash_encode(x, self.tables, self.config.resolutions, mask)
