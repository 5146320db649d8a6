"""Cameras, written down once.

**World frame** (the glTF frame, the one trimesh loads a GLB in): right-handed,
+Y up, an object's front faces +Z. **Camera frame** (OpenGL): +X right, +Y up,
the camera looks along −Z. A camera-to-world matrix ``c2w`` (4×4) maps camera
coordinates to world coordinates.

**Spherical pose**: a camera at distance ``radius`` from the origin, looking at
it, with ``elevation`` degrees above the horizontal XZ-plane and ``azimuth``
degrees around +Y measured from +Z towards +X (azimuth 0 looks at the object's
front, 90 at its +X side; counter-clockwise seen from above, as in Zero-1-to-3).

**Intrinsics**: pinhole, square pixels, principal point at the image centre;
``fov_deg`` is the vertical field of view. Pixel (u, v) has its centre at
(u + 0.5, v + 0.5); v grows downwards, as in images.

**Blender**: Z-up world, camera looking along its local −Z with local +Y up;
Blender's glTF exporter maps (x, y, z) ↦ (x, z, −y), and so do we. Converting a Blender camera is written down once, in
:mod:`protocol.cameras` (plain Python, for the add-on); its c2w is this module's.

All functions are batched over leading dimensions and work on any device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def spherical_to_position(elevation_deg: torch.Tensor, azimuth_deg: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Camera positions (..., 3) for broadcastable elevation, azimuth (degrees) and radius (...)."""
    elevation, azimuth = torch.deg2rad(elevation_deg), torch.deg2rad(azimuth_deg)
    return torch.stack(
        [radius * torch.cos(elevation) * torch.sin(azimuth), radius * torch.sin(elevation), radius * torch.cos(elevation) * torch.cos(azimuth)],
        dim=-1,
    )


def look_at(position: torch.Tensor, target: torch.Tensor | None = None, up: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world matrices (..., 4, 4) for cameras at ``position`` (..., 3) looking at ``target`` (default origin).

    ``up`` defaults to +Y; a camera looking straight up or down uses −Z/+Z as its up hint instead.
    """
    target = torch.zeros_like(position) if target is None else target.expand_as(position)
    forward = F.normalize(target - position, dim=-1)
    hint = torch.tensor([0.0, 1.0, 0.0], dtype=position.dtype, device=position.device) if up is None else up
    hint = hint.expand_as(forward)
    degenerate = torch.linalg.cross(forward, hint).norm(dim=-1, keepdim=True) < 1e-6
    alternative = torch.tensor([0.0, 0.0, -1.0], dtype=position.dtype, device=position.device).expand_as(forward)
    alternative = torch.where(forward[..., 1:2] < 0, -alternative, alternative)
    hint = torch.where(degenerate, alternative, hint)
    right = F.normalize(torch.linalg.cross(forward, hint), dim=-1)
    true_up = torch.linalg.cross(right, forward)
    c2w = torch.zeros(*position.shape[:-1], 4, 4, dtype=position.dtype, device=position.device)
    c2w[..., :3, 0] = right
    c2w[..., :3, 1] = true_up
    c2w[..., :3, 2] = -forward
    c2w[..., :3, 3] = position
    c2w[..., 3, 3] = 1.0
    return c2w


def spherical_to_c2w(elevation_deg: torch.Tensor, azimuth_deg: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Camera-to-world (..., 4, 4) of cameras on a sphere looking at the origin."""
    return look_at(spherical_to_position(elevation_deg, azimuth_deg, radius))


def c2w_to_spherical(c2w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(elevation_deg, azimuth_deg, radius)`` of the camera positions in ``c2w`` (..., 4, 4); azimuth in (−180, 180]."""
    position = c2w[..., :3, 3]
    radius = position.norm(dim=-1)
    elevation = torch.rad2deg(torch.asin((position[..., 1] / radius.clamp_min(1e-12)).clamp(-1.0, 1.0)))
    azimuth = torch.rad2deg(torch.atan2(position[..., 0], position[..., 2]))
    return elevation, azimuth, radius


def focal_from_fov(fov_deg: float | torch.Tensor, height: int) -> float | torch.Tensor:
    """Focal length in pixels for a vertical field of view over ``height`` pixels."""
    if isinstance(fov_deg, torch.Tensor):
        return 0.5 * height / torch.tan(0.5 * torch.deg2rad(fov_deg))
    return 0.5 * height / math.tan(0.5 * math.radians(fov_deg))


def intrinsics(fov_deg: float, width: int, height: int) -> torch.Tensor:
    """The 3×3 pinhole matrix K (pixels; v grows downwards) for a vertical FOV."""
    focal = focal_from_fov(fov_deg, height)
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def ray_directions(fov_deg: float, width: int, height: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Unit directions (H, W, 3) in the camera frame through every pixel centre."""
    focal = focal_from_fov(fov_deg, height)
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=device) + 0.5,
        torch.arange(width, dtype=torch.float32, device=device) + 0.5,
        indexing="ij",
    )
    directions = torch.stack([(u - width / 2) / focal, -(v - height / 2) / focal, -torch.ones_like(u)], dim=-1)
    return F.normalize(directions, dim=-1)


def get_rays(c2w: torch.Tensor, fov_deg: float, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """World-space ``(origins, directions)``, each (..., H, W, 3), for cameras ``c2w`` (..., 4, 4)."""
    local = ray_directions(fov_deg, width, height, c2w.device).to(c2w.dtype)
    rotation = c2w[..., None, None, :3, :3]
    directions = (rotation @ local[..., None]).squeeze(-1)
    origins = c2w[..., None, None, :3, 3].expand_as(directions)
    return origins, directions


def project(points: torch.Tensor, c2w: torch.Tensor, fov_deg: float, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (..., N, 2) as (u, v) and camera depth (..., N) of world points (..., N, 3).

    Depth is the distance along the viewing axis (positive in front of the camera).
    """
    w2c = torch.linalg.inv(c2w)
    local = (w2c[..., None, :3, :3] @ points[..., None]).squeeze(-1) + w2c[..., None, :3, 3]
    depth = -local[..., 2]
    focal = focal_from_fov(fov_deg, height)
    u = width / 2 + focal * local[..., 0] / depth
    v = height / 2 - focal * local[..., 1] / depth
    return torch.stack([u, v], dim=-1), depth


def perspective(fov_deg: float, aspect: float, near: float, far: float) -> torch.Tensor:
    """OpenGL projection matrix (4×4) to clip space, for rasterisation (aspect = width / height)."""
    f = 1.0 / math.tan(0.5 * math.radians(fov_deg))
    return torch.tensor(
        [
            [f / aspect, 0.0, 0.0, 0.0],
            [0.0, f, 0.0, 0.0],
            [0.0, 0.0, (far + near) / (near - far), 2 * far * near / (near - far)],
            [0.0, 0.0, -1.0, 0.0],
        ]
    )


def zero123_relative_pose(
    reference: tuple[torch.Tensor, torch.Tensor, torch.Tensor], target: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Zero-1-to-3's camera conditioning (..., 4): [Δpolar (rad), sin Δazimuth, cos Δazimuth, Δradius].

    ``reference`` and ``target`` are ``(elevation_deg, azimuth_deg, radius)``; Zero-1-to-3's polar
    angle is 90° − elevation, so Δpolar = elevation_ref − elevation_target.
    """
    elevation_ref, azimuth_ref, radius_ref = reference
    elevation, azimuth, radius = target
    delta_azimuth = torch.deg2rad(azimuth - azimuth_ref)
    return torch.stack(
        [torch.deg2rad(elevation_ref - elevation), torch.sin(delta_azimuth), torch.cos(delta_azimuth), radius - radius_ref],
        dim=-1,
    )
