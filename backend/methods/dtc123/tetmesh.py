"""Stage 2's geometry: a DMTet — SDF values and bounded offsets on a Kuhn tet grid — initialised from stage 1's surface."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import ndimage
from scipy.spatial import cKDTree

from backend.core.dmtet import marching_tetrahedra, tet_grid
from backend.core.metrics import surface_samples

SURFACE_SAMPLES = 200_000
"""Points sampled on the stage-1 surface to measure distances to it (spacing ≪ a tet cell at 128³)."""
FIT_MARGIN = 2.0
"""Cells left empty around the fitted surface on each side (room for the offsets and for growth)."""
SQUASH_LIMIT = 0.999
"""Offsets are stored through tanh; resampled offsets are clamped to ±this of the bound before atanh."""


class TetGeometry(nn.Module):
    """DMTet over the cube ``centre`` ± ``half_side`` at ``resolution``: SDF (V,) (negative inside) and offsets (V, 3) of the
    (resolution + 1)³ grid vertices, each offset bounded to ``max_deformation`` of a cell by tanh. The cube is a checkpointed
    buffer: :meth:`fit_surface` shrinks it around the object, so no cell is spent on empty space."""

    def __init__(self, resolution: int, half_side: float, max_deformation: float) -> None:
        super().__init__()
        self.resolution = resolution
        self.max_deformation = max_deformation
        unit, tets = tet_grid(resolution, scale=2.0)
        self.register_buffer("unit_grid", unit, persistent=False)
        self.register_buffer("tets", tets, persistent=False)
        self.register_buffer("centre", torch.zeros(3))
        self.register_buffer("half_side", torch.tensor(float(half_side)))
        self.sdf = nn.Parameter(torch.zeros(len(unit)))
        self.deformation = nn.Parameter(torch.zeros(len(unit), 3))

    @property
    def grid(self) -> torch.Tensor:
        """(V, 3) undeformed vertex positions."""
        return self.centre + self.half_side * self.unit_grid

    @property
    def cell(self) -> float:
        return 2.0 * float(self.half_side) / self.resolution

    def offsets(self) -> torch.Tensor:
        """(V, 3) world-space vertex offsets."""
        return self.max_deformation * self.cell * torch.tanh(self.deformation)

    def mesh(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(positions (M, 3), faces (F, 3))`` of the zero level set, differentiable in the SDF and the offsets."""
        return marching_tetrahedra(self.grid + self.offsets(), self.tets, self.sdf)

    def sample(self, values: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Trilinear samples (N, C) of per-vertex ``values`` (V, C) at ``points`` (N, 3) inside the box."""
        n = self.resolution + 1
        volume = values.reshape(n, n, n, -1).permute(3, 2, 1, 0)[None]  # (1, C, z, y, x): grid_sample's (D, H, W)
        grid = ((points - self.centre) / self.half_side).reshape(1, -1, 1, 1, 3)
        return F.grid_sample(volume, grid, mode="bilinear", align_corners=True)[0, :, :, 0, 0].T

    def fit_surface(self, vertices: np.ndarray, faces: np.ndarray, inside: Callable[[torch.Tensor], torch.Tensor], margin: float = FIT_MARGIN) -> None:
        """Shrink the cube around a surface (``vertices``, ``faces``) with ``margin`` cells to spare on each side (never beyond
        the initial cube), set the SDF to the signed distance to it — the distance to dense samples of it, negative where
        ``inside(points (N, 3)) → (N,) bool`` holds or in a cavity that region encloses — and the offsets to zero. Enclosed
        cavities count as inside because the DMTet is a solid seen from outside: a field that models a solid as an opaque
        shell (a NeRF may) would otherwise give it a second, unseen inner wall."""
        lo, hi = torch.from_numpy(vertices.min(0)).float(), torch.from_numpy(vertices.max(0)).float()
        half = min(float(self.half_side), float((hi - lo).max()) / 2 * self.resolution / (self.resolution - 2 * margin))
        limit = self.centre.cpu() + float(self.half_side)
        centre = ((lo + hi) / 2).clamp(self.centre.cpu() - float(self.half_side) + half, limit - half)
        with torch.no_grad():
            self.half_side.fill_(half)
            self.centre.copy_(centre.to(self.centre.device))
        samples = surface_samples(vertices, faces, SURFACE_SAMPLES)
        grid = self.grid.detach().cpu()
        distance, _ = cKDTree(samples).query(grid.numpy(), workers=-1)
        n = self.resolution + 1
        solid = ndimage.binary_fill_holes(inside(self.grid.detach()).cpu().numpy().reshape(n, n, n)).reshape(-1)
        sign = torch.where(torch.from_numpy(solid), -1.0, 1.0)
        with torch.no_grad():
            self.sdf.copy_((sign * torch.from_numpy(distance).float()).to(self.sdf.device))
            self.deformation.zero_()

    def resampled(self, resolution: int) -> "TetGeometry":
        """The same surface on a grid of ``resolution``: SDF and world offsets interpolated trilinearly at the new vertices."""
        finer = TetGeometry(resolution, float(self.half_side), self.max_deformation).to(self.sdf.device)
        with torch.no_grad():
            finer.centre.copy_(self.centre)
            finer.sdf.copy_(self.sample(self.sdf[:, None], finer.grid)[:, 0])
            if self.max_deformation > 0:
                scale = finer.max_deformation * finer.cell
                offsets = self.sample(self.offsets(), finer.grid) / scale
                finer.deformation.copy_(torch.atanh(offsets.clamp(-SQUASH_LIMIT, SQUASH_LIMIT)))
        return finer
