"""Stage 1's student: a hash-grid NeRF (Instant-NGP encoding + a three-layer MLP) with DTC123's band mask."""

from __future__ import annotations

import torch
import torch.nn as nn

from backend.core.hashgrid import HashGridConfig, HashGridEncoding

from .config import FieldConfig
from .schedule import band_mask

MAX_LOG_DENSITY = 15.0
"""The exponent of the density is clamped here (exp overflows the compositing otherwise)."""


class CoarseField(nn.Module):
    """Points (M, 3) in [−bound, bound]³ → (albedo (M, 3) in [0, 1], density (M,) ≥ 0).

    The MLP also sees the raw coordinates next to the hash features (the paper's "continuous
    connection from the input coordinate", which smooths the field), and the density starts as
    a blob at the centre so the first renders are not empty.
    """

    def __init__(self, config: FieldConfig) -> None:
        super().__init__()
        self.config = config
        grid = HashGridConfig(levels=config.levels, log2_table_size=config.log2_table_size, base_resolution=16, max_resolution=config.max_resolution)
        self.encoding = HashGridEncoding(grid, bounds=(-config.bound, config.bound))
        self.mlp = nn.Sequential(
            nn.Linear(self.encoding.output_dim + 3, config.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.hidden, 4),
        )
        self.register_buffer("level_mask", torch.ones(config.levels), persistent=False)

    def set_step(self, step: int, total: int) -> None:
        """Apply the band mask of Eq. 3 for ``step`` of ``total`` (all levels when the mask is off)."""
        mask = band_mask(step, total, self.config.levels) if self.config.band_mask else torch.ones(self.config.levels)
        self.level_mask.copy_(mask)

    def blob(self, points: torch.Tensor) -> torch.Tensor:
        """(M,) density bias: blob_density · (1 − |x| / blob_radius)."""
        return self.config.blob_density * (1.0 - points.norm(dim=-1) / self.config.blob_radius)

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoding(points, self.level_mask)
        raw = self.mlp(torch.cat([features, points / self.config.bound], dim=-1))
        density = torch.exp((raw[:, 0] + self.blob(points)).clamp(max=MAX_LOG_DENSITY))
        return torch.sigmoid(raw[:, 1:]), density

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """(M,) density only (for marching cubes)."""
        return self(points)[1]

    def albedo(self, points: torch.Tensor) -> torch.Tensor:
        """(M, 3) colour only (for the texture bake)."""
        return self(points)[0]
