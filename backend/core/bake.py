"""Texture baking: rasterise the mesh in UV space, query a colour field at every covered texel, pad the seams."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .raster import interpolate, rasterize_torch

ColorField = Callable[[torch.Tensor], torch.Tensor]
"""points (N, 3) → rgb (N, 3) in [0, 1]"""


def texel_positions(positions: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mask (S, S) bool, points (S, S, 3))``: which texel centres lie on the mesh, and where in space.

    Row 0 of the texture is v = 1 (the top), as images are stored.
    """
    uv = torch.from_numpy(uvs)
    clip = torch.cat([uv * 2 - 1, torch.zeros_like(uv[:, :1]), torch.ones_like(uv[:, :1])], dim=-1)[None]
    faces_t = torch.from_numpy(np.ascontiguousarray(faces)).long()
    with torch.no_grad():
        raster = rasterize_torch(clip, faces_t, size, size)
        points = interpolate(torch.from_numpy(positions), raster, faces_t)[0]
    return raster.mask[0], points


def dilate(image: np.ndarray, mask: np.ndarray, padding: int) -> np.ndarray:
    """Fill texels up to ``padding`` steps outside ``mask`` (S, S) with the colour of a neighbouring filled texel (S, S, C).

    Each step copies, into every empty texel next to a filled one, the colour of the
    filled neighbour with the largest index (a 3×3 maximum over texel indices).
    """
    if padding <= 0 or mask.all() or not mask.any():
        return image
    height, width = mask.shape
    source = np.where(mask, np.arange(1, height * width + 1, dtype=np.int32).reshape(height, width), 0)
    for _ in range(padding):
        padded = np.pad(source, 1)
        neighbours = padded[1:-1, 1:-1].copy()
        for dy in range(3):
            for dx in range(3):
                np.maximum(neighbours, padded[dy : dy + height, dx : dx + width], out=neighbours)
        source = np.where(source > 0, source, neighbours)
    index = source.reshape(-1) - 1
    flat = image.reshape(height * width, -1)
    out = np.zeros_like(flat)
    filled = index >= 0
    out[filled] = flat[index[filled]]
    return out.reshape(image.shape)


def bake(color: ColorField, positions: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size: int, padding: int = 4, chunk: int = 1 << 18) -> np.ndarray:
    """An (S, S, 3) uint8 texture of ``color`` over the mesh, padded ``padding`` texels past every chart edge."""
    mask, points = texel_positions(positions, faces, uvs, size)
    on_mesh = points[mask]
    with torch.no_grad():
        rgb = torch.cat([color(on_mesh[i : i + chunk]).float() for i in range(0, on_mesh.shape[0], chunk)]) if len(on_mesh) else on_mesh
    image = np.zeros((size, size, 3), np.uint8)
    image[mask.numpy()] = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    return dilate(image, mask.numpy(), padding)
