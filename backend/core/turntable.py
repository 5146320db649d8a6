"""A turntable sheet of a finished asset: the textured mesh from evenly spaced azimuths, head-lit, in one image."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image

from .cameras import spherical_to_c2w
from .glb import MeshAsset
from .mesh_render import render_mesh, shade

def turntable(asset: MeshAsset, views: int = 8, size: int = 192, elevation_deg: float = 15.0, fov_deg: float = 40.0) -> np.ndarray:
    """(size, views·size, 3) uint8: ``asset`` seen from azimuths 0, 360/views, … at a distance that fits its bounding sphere."""
    positions = torch.from_numpy(np.asarray(asset.positions, np.float32))
    centre = (positions.min(0).values + positions.max(0).values) / 2
    radius = float((positions - centre).norm(dim=1).max())
    distance = 1.15 * radius / math.sin(math.radians(fov_deg) / 2)
    azimuths = torch.arange(views, dtype=torch.float32) * 360.0 / views
    c2w = spherical_to_c2w(torch.full((views,), elevation_deg), azimuths, torch.full((views,), distance))
    c2w[:, :3, 3] += centre
    texture = None if asset.texture is None else torch.from_numpy(asset.texture.astype(np.float32) / 255.0)
    colors = None if asset.colors is None else torch.from_numpy(asset.colors[:, :3].astype(np.float32) / 255.0)
    uvs = None if asset.uvs is None else torch.from_numpy(np.asarray(asset.uvs, np.float32))
    out = render_mesh(
        positions, torch.from_numpy(np.asarray(asset.faces, np.int64)), c2w, fov_deg, size, size,
        colors=colors, uvs=uvs, texture=texture, normals=torch.from_numpy(np.asarray(asset.normals, np.float32)), background=1.0, backend="auto",
    )
    mask = out.mask[..., None]
    rgb = shade(out.rgb, out.normals, c2w) * mask + (1 - mask)
    sheet = rgb.permute(1, 0, 2, 3).reshape(size, views * size, 3)
    return (sheet.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def turntable_png(asset: MeshAsset, **kwargs) -> bytes:
    """:func:`turntable` encoded as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(turntable(asset, **kwargs)).save(buffer, format="PNG")
    return buffer.getvalue()
