"""Rendering triangle meshes with the rasteriser: colour (vertex colours or a texture), mask, depth, normals."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .raster import interpolate, rasterize, to_clip


LIGHT_AMBIENT = 0.35
"""Ambient share of the optional head-light shading (the rest is Lambertian)."""
UNTEXTURED_GREY = 0.7
"""Albedo of a mesh rendered without colours or texture (DTC123's "textureless shading")."""


@dataclass
class MeshRender:
    rgb: torch.Tensor
    """(B, H, W, 3) colour over the background."""
    mask: torch.Tensor
    """(B, H, W) float coverage."""
    depth: torch.Tensor
    """(B, H, W) distance along the camera's viewing axis (0 where empty)."""
    normals: torch.Tensor
    """(B, H, W, 3) unit world normals (0 where empty)."""


def face_normals(positions: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit normals (F, 3) of counter-clockwise faces."""
    a, b, c = (positions[faces[:, i]] for i in range(3))
    return F.normalize(torch.linalg.cross(b - a, c - a), dim=-1)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (..., C) of ``texture`` (S, S, C), row 0 on top, at ``uv`` (..., 2) with v up."""
    grid = torch.stack([uv[..., 0] * 2 - 1, 1 - uv[..., 1] * 2], dim=-1).reshape(1, 1, -1, 2)
    sampled = F.grid_sample(texture.permute(2, 0, 1)[None], grid, mode="bilinear", padding_mode="border", align_corners=False)
    return sampled[0, :, 0].permute(1, 0).reshape(*uv.shape[:-1], texture.shape[-1])


def shade(albedo: torch.Tensor, normals: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """Head-light shading: albedo (B, H, W, 3) × (ambient + (1 − ambient)·|n·view|) with normals (B, H, W, 3)."""
    view = c2w[:, None, None, :3, 2]  # towards the camera
    lambert = (normals * view).sum(dim=-1, keepdim=True).abs()
    return albedo * (LIGHT_AMBIENT + (1.0 - LIGHT_AMBIENT) * lambert)


def render_mesh(
    positions: torch.Tensor,
    faces: torch.Tensor,
    c2w: torch.Tensor,
    fov_deg: float,
    width: int,
    height: int,
    *,
    colors: torch.Tensor | None = None,
    uvs: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
    normals: torch.Tensor | None = None,
    background: float = 1.0,
    backend: str = "auto",
) -> MeshRender:
    """Render ``positions`` (V, 3) / ``faces`` (F, 3) from cameras ``c2w`` (B, 4, 4).

    Colour comes from ``texture`` (S, S, 3) at ``uvs`` (V, 2), else ``colors`` (V, 3), else grey;
    normals from vertex ``normals`` (V, 3), else flat face normals.
    """
    faces = faces.long()
    raster = rasterize(to_clip(positions, c2w, fov_deg, width, height), faces, height, width, backend)
    mask = raster.mask.to(positions.dtype)
    if normals is not None:
        pixel_normals = F.normalize(interpolate(normals, raster, faces), dim=-1)
    else:
        pixel_normals = face_normals(positions, faces)[raster.triangle.clamp_min(0)] * mask[..., None]
    if texture is not None and uvs is not None:
        rgb = sample_texture(texture.to(positions.dtype), interpolate(uvs, raster, faces))
    elif colors is not None:
        rgb = interpolate(colors, raster, faces)
    else:
        rgb = torch.full((*raster.triangle.shape, 3), UNTEXTURED_GREY, dtype=positions.dtype, device=positions.device)
    rgb = rgb * mask[..., None] + background * (1 - mask[..., None])
    points = interpolate(positions, raster, faces)
    forward = -c2w[:, None, None, :3, 2]
    depth = ((points - c2w[:, None, None, :3, 3]) * forward).sum(dim=-1) * mask
    return MeshRender(rgb=rgb, mask=mask, depth=depth, normals=pixel_normals * mask[..., None])
