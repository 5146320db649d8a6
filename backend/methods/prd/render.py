"""PRD's dual rendering of triplanes: NeuS volume rendering of the SDF, and rasterisation of the marching-cubes mesh.

Both render unlit albedo over a background colour. The volume path turns SDF values at consecutive samples into
opacities the NeuS way, α_i = max((Φ(s·f_i) − Φ(s·f_{i+1})) / Φ(s·f_i), 0) with Φ the sigmoid and a fixed inverse
standard deviation s (the reference: 100), so the surface the images see is the SDF's zero level. The mesh path
extracts the deformed zero level by differentiable marching cubes, rasterises it and reads the colour MLP at the
interpolated surface points; its gradients into the SDF and deformation are scaled (the reference: 0.001) so that the
volume path leads the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...core import raster as R
from ...core.cameras import get_rays
from ...core.volume import importance, ray_box, stratified
from .mesh import surface
from .triplane import TriplaneHead, Triplanes


@dataclass
class Rendered:
    """Images of one object from V cameras."""

    rgb: torch.Tensor
    """(V, 3, H, W) in [0, 1] over the background."""
    opacity: torch.Tensor
    """(V, 1, H, W) coverage."""


Background = "float | torch.Tensor"
"""A grey level in [0, 1] for every view, or one per view (V,)."""


def per_view(background: float | torch.Tensor, views: int, device) -> torch.Tensor:
    """(V,) grey levels."""
    return torch.as_tensor(background, dtype=torch.float32, device=device).reshape(-1).expand(views)


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` in the forward pass, its gradient times ``scale`` in the backward pass."""
    return x * scale + x.detach() * (1.0 - scale)


def neus_alpha(sdf: torch.Tensor, inv_s: float) -> torch.Tensor:
    """Opacities (R, S) of the S intervals between S + 1 SDF samples (R, S + 1) along each ray (NeuS, fixed s)."""
    cdf = torch.sigmoid(sdf * inv_s)
    return ((cdf[:, :-1] - cdf[:, 1:]) / cdf[:, :-1].clamp_min(1e-5)).clamp(0.0, 1.0)


def render_volume(
    head: TriplaneHead, triplanes: Triplanes, c2w: torch.Tensor, fov_deg: float, resolution: int, samples: int, importance_samples: int,
    inv_s: float, background: Background, rgb_gradient: float = 1.0, generator: torch.Generator | None = None,
) -> Rendered:  # fmt: skip
    """NeuS renders (V, 3, res, res) of one object (``triplanes`` of batch 1) from cameras ``c2w`` (V, 4, 4): ``samples``
    stratified and ``importance_samples`` more where the coarse pass found the surface; the colour's gradient is scaled
    by ``rgb_gradient`` (the reference decays it 1 → 0.01)."""
    views = c2w.shape[0]
    origins, directions = (x.reshape(-1, 3) for x in get_rays(c2w, fov_deg, resolution, resolution))
    near, far, hit = ray_box(origins, directions, -head.box, head.box)
    far = torch.where(hit, far, near + 1e-3)
    t = stratified(near, far, samples + 1, perturb=generator is not None, generator=generator)
    if importance_samples:
        with torch.no_grad():
            coarse = head.sdf(triplanes, (origins[:, None] + directions[:, None] * t[..., None]).reshape(1, -1, 3)).reshape(t.shape)
            alpha = neus_alpha(coarse, inv_s)
            weights = alpha * torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-7], 1), 1)[:, :-1]
            extra = importance(t, weights, importance_samples, perturb=generator is not None, generator=generator)
        t = torch.sort(torch.cat([t, extra], 1), 1).values
    points = (origins[:, None] + directions[:, None] * t[..., None]).reshape(1, -1, 3)
    sdf = head.sdf(triplanes, points).reshape(t.shape)
    alpha = neus_alpha(sdf, inv_s) * hit[:, None]
    weights = alpha * torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + 1e-7], 1), 1)[:, :-1]
    mids = 0.5 * (t[:, 1:] + t[:, :-1])
    color = scale_gradient(head.color(triplanes, (origins[:, None] + directions[:, None] * mids[..., None]).reshape(1, -1, 3)), rgb_gradient)
    color = color.reshape(*mids.shape, 3)
    opacity = weights.sum(1)
    grey = per_view(background, views, color.device).repeat_interleave(resolution * resolution)[:, None]
    rgb = (weights[..., None] * color).sum(1) + (1 - opacity)[:, None] * grey
    shape = (views, resolution, resolution)
    return Rendered(rgb.reshape(*shape, 3).permute(0, 3, 1, 2), opacity.reshape(*shape)[:, None])


def eikonal_loss(head: TriplaneHead, triplanes: Triplanes, count: int, generator: torch.Generator | None = None, step: float = 0.01) -> torch.Tensor:
    """Mean (|∇f| − 1)² of one object's SDF at ``count`` random points of the box, ∇f by central differences of ``step``.
    Departure: the reference takes autograd gradients at the volume samples; a second-order graph through the triplane
    sampling costs more than the renders on a CPU, and without the term an unlit SDF flattens into soft, blurred edges."""
    device = triplanes.geometry.device
    points = (torch.rand(count, 3, generator=generator) * 2 - 1).to(device) * head.box
    offsets = torch.eye(3, device=device) * step
    probes = torch.cat([points[:, None] + offsets, points[:, None] - offsets], 1).reshape(1, -1, 3)
    values = head.sdf(triplanes, probes).reshape(count, 2, 3)
    gradient = (values[:, 0] - values[:, 1]) / (2 * step)
    return ((gradient.norm(dim=-1) - 1.0) ** 2).mean()


def render_mesh(
    head: TriplaneHead, triplanes: Triplanes, c2w: torch.Tensor, fov_deg: float, resolution: int, grid: int, background: Background,
    geometry_gradient: float = 0.001,
) -> Rendered:  # fmt: skip
    """Rasterised renders (V, 3, res, res) of one object's marching-cubes mesh (grid³) from cameras ``c2w`` (V, 4, 4),
    antialiased at the silhouette; the SDF and deformation receive ``geometry_gradient`` times the image gradient.
    An object without a surface renders as background."""
    vertices, faces = surface(head, triplanes, grid)
    views = c2w.shape[0]
    grey = per_view(background, views, c2w.device).reshape(-1, 1, 1, 1)
    if len(faces) == 0:
        return Rendered(grey.expand(views, 3, resolution, resolution).clone(), torch.zeros(views, 1, resolution, resolution, device=c2w.device))
    vertices = scale_gradient(vertices, geometry_gradient)
    clip = R.to_clip(vertices, c2w, fov_deg, resolution, resolution)
    raster = R.rasterize(clip, faces, resolution, resolution)
    points = R.interpolate(vertices, raster, faces)  # (V, H, W, 3)
    covered = raster.mask
    color = grey.to(vertices.dtype).expand(views, resolution, resolution, 3).clone()
    if covered.any():
        color = color.index_put((covered,), head.color(triplanes, points[covered][None])[0])
    coverage = R.soft_coverage(clip, faces, raster)[..., None]
    rgb = color * coverage + grey * (1 - coverage)
    return Rendered(rgb.permute(0, 3, 1, 2), coverage.permute(0, 3, 1, 2))
