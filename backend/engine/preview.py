"""Progress previews: a method's views, each resized to :data:`PREVIEW_SIZE`² and tiled in a near-square grid.

Methods render their views at a resolution of their own (a config field where rendering is costly), independent of
their training resolution; small renders are enlarged, so every method's views reach the add-on at the same size.

The add-on shows the latest preview as a square icon in its panel (and at full size in open Image Editors), so views
are tiled as close to a square as their count allows: four views as 2×2, not a 1×4 strip that would fill a quarter of
the icon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

PREVIEW_SIZE = 256
"""Side, in pixels, of each view of a progress preview, whatever the side it was rendered at."""


def grid_shape(count: int) -> tuple[int, int]:
    """``(rows, columns)`` of the most nearly square grid that holds ``count`` views, at least as wide as it is tall."""
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


def preview_grid(views: Sequence[torch.Tensor], size: int = PREVIEW_SIZE) -> np.ndarray:
    """(rows·size, columns·size, 3) float32 in [0, 1]: the square ``views``, each (3, H, H) in [0, 1], resized to size²
    (bilinear, antialiased when shrinking) and tiled row by row in :func:`grid_shape`; empty cells are white."""
    rows, columns = grid_shape(len(views))
    cells = [F.interpolate(view.detach().float().cpu()[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
             for view in views]  # fmt: skip
    cells += [torch.ones(3, size, size)] * (rows * columns - len(cells))
    grid = torch.stack(cells).reshape(rows, columns, 3, size, size).permute(0, 3, 1, 4, 2)
    return grid.reshape(rows * size, columns * size, 3).clamp(0, 1).numpy()
