"""Texture baking: rasterise the mesh in UV space, query a colour field at every covered texel, pad the seams."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .raster import interpolate, rasterize_torch

ColorField = Callable[[torch.Tensor], torch.Tensor]
"""points (N, 3) → rgb (N, 3) in [0, 1]"""


def rasterize_uv(positions: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(face (S, S) int64, points (S, S, 3))``: the face whose UV triangle holds each texel centre (−1: none) and the surface point there.

    Row 0 of the texture is v = 1 (the top), as images are stored.
    """
    uv = torch.from_numpy(uvs)
    clip = torch.cat([uv * 2 - 1, torch.zeros_like(uv[:, :1]), torch.ones_like(uv[:, :1])], dim=-1)[None]
    faces_t = torch.from_numpy(np.ascontiguousarray(faces)).long()
    with torch.no_grad():
        raster = rasterize_torch(clip, faces_t, size, size)
        points = interpolate(torch.from_numpy(positions), raster, faces_t)[0]
    return raster.triangle[0], points


def texel_positions(positions: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mask (S, S) bool, points (S, S, 3))``: which texel centres lie on the mesh, and where in space."""
    face, points = rasterize_uv(positions, faces, uvs, size)
    return face >= 0, points


def edge_texels(face: torch.Tensor, faces: np.ndarray, uvs: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(texel indices (K,), points (K, 3))``: empty texels that a UV triangle's edges cross, with the surface point there.

    Texel centres miss slivers and triangles smaller than a texel; sampling the
    edges of every triangle whose inradius is under a texel, every half texel,
    claims the texels under them, so no visible part of the surface samples an
    unbaked texel.
    """
    size = face.shape[0]
    corner_uv = uvs[faces] * size  # (F, 3, 2), v up
    a, b, c = corner_uv[:, 0], corner_uv[:, 1], corner_uv[:, 2]
    twice_area = np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1]))
    perimeter = np.linalg.norm(b - a, axis=1) + np.linalg.norm(c - b, axis=1) + np.linalg.norm(a - c, axis=1)
    thin = twice_area < perimeter  # inradius under one texel: centres may miss it
    corner_uv, corner_p = corner_uv[thin], positions[faces[thin]]
    starts, ends = [0, 1, 2], [1, 2, 0]
    uv0, uv1 = corner_uv[:, starts].reshape(-1, 2), corner_uv[:, ends].reshape(-1, 2)
    p0, p1 = corner_p[:, starts].reshape(-1, 3), corner_p[:, ends].reshape(-1, 3)
    counts = np.ceil(2 * np.linalg.norm(uv1 - uv0, axis=1)).astype(np.int64) + 1
    edge = np.repeat(np.arange(len(uv0)), counts)
    step = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    t = (step / np.maximum(counts[edge] - 1, 1))[:, None]
    sample_uv = uv0[edge] + t * (uv1[edge] - uv0[edge])
    col = np.clip(np.floor(sample_uv[:, 0]), 0, size - 1).astype(np.int64)
    row = np.clip(np.floor(size - sample_uv[:, 1]), 0, size - 1).astype(np.int64)
    texel = row * size + col
    empty = face.reshape(-1).numpy()[texel] < 0
    texel, first = np.unique(texel[empty], return_index=True)
    chosen = np.nonzero(empty)[0][first]
    points = p0[edge[chosen]] + t[chosen] * (p1[edge[chosen]] - p0[edge[chosen]])
    return texel, points.astype(np.float32)


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
        rows = np.maximum(np.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])  # separable 3×3 maximum
        neighbours = np.maximum(np.maximum(rows[:-2], rows[1:-1]), rows[2:])
        source = np.where(source > 0, source, neighbours)
    index = source.reshape(-1) - 1
    flat = image.reshape(height * width, -1)
    out = np.zeros_like(flat)
    filled = index >= 0
    out[filled] = flat[index[filled]]
    return out.reshape(image.shape)


def bake(color: ColorField, positions: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size: int, padding: int = 4, chunk: int = 1 << 18) -> np.ndarray:
    """An (S, S, 3) uint8 texture of ``color`` over the mesh, padded ``padding`` texels past every chart edge."""
    face, points = rasterize_uv(positions, faces, uvs, size)
    mask = (face >= 0).reshape(-1).numpy()
    extra_texels, extra_points = edge_texels(face, faces, uvs, positions)
    texels = np.concatenate([np.nonzero(mask)[0], extra_texels])
    query = torch.cat([points.reshape(-1, 3)[torch.from_numpy(np.nonzero(mask)[0])], torch.from_numpy(extra_points)])
    with torch.no_grad():
        rgb = torch.cat([color(query[i : i + chunk]).float() for i in range(0, query.shape[0], chunk)]) if len(query) else query
    image = np.zeros((size * size, 3), np.uint8)
    image[texels] = (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
    mask[extra_texels] = True
    return dilate(image.reshape(size, size, 3), mask.reshape(size, size), padding)
