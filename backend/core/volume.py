"""Volume rendering: sample along rays, composite, and estimate normals.

Rays are flattened to (R, 3) origins and directions; a *field* is a callable
``points (M, 3) → (rgb (M, 3), density (M,))`` (or any C features instead of rgb: they are composited alike). Sample positions ``t`` (R, S)
are sorted distances along the ray; each sample owns the interval between the
midpoints to its neighbours (the first from ``near``, the last to ``far``), so
the intervals tile [near, far] exactly and a constant density σ over a length
L gives opacity 1 − exp(−σL) whatever the sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Field = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def ray_box(origins: torch.Tensor, directions: torch.Tensor, lo: float, hi: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(near, far, hit)`` (R,) of rays against the box [lo, hi]³ (near clamped at 0)."""
    safe = torch.where(directions.abs() < 1e-12, torch.full_like(directions, 1e-12), directions)
    t0 = (lo - origins) / safe
    t1 = (hi - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0.0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    hit = far > near
    return near, torch.where(hit, far, near), hit


def uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) numbers of ``shape`` on ``like``'s device and dtype, drawn on the generator's device (a CPU
    generator keeps a CUDA run reproducible and equal to the CPU one)."""
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, device=device, dtype=like.dtype, generator=generator).to(like.device)


def stratified(near: torch.Tensor, far: torch.Tensor, count: int, perturb: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` samples (R, count) per ray, one in each equal bin of [near, far]: at random when ``perturb``, else at bin centres."""
    steps = torch.arange(count, device=near.device, dtype=near.dtype)
    if perturb:
        offsets = uniform((near.shape[0], count), near, generator)
    else:
        offsets = torch.full((near.shape[0], count), 0.5, device=near.device, dtype=near.dtype)
    return near[:, None] + (far - near)[:, None] * (steps + offsets) / count


def importance(edges: torch.Tensor, weights: torch.Tensor, count: int, perturb: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` new samples (R, count) from the piecewise-constant PDF of ``weights`` (R, S) over intervals ``edges`` (R, S + 1)."""
    t = edges
    pdf = weights + 1e-5
    pdf = pdf / pdf.sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=-1)], dim=-1)
    if perturb:
        u = uniform((t.shape[0], count), t, generator)
    else:
        u = torch.linspace(0.5 / count, 1 - 0.5 / count, count, device=t.device, dtype=t.dtype).expand(t.shape[0], count)
    index = torch.searchsorted(cdf, u.contiguous(), right=True).clamp(1, cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = cdf.gather(1, index - 1), cdf.gather(1, index)
    edge_lo, edge_hi = edges.gather(1, index - 1), edges.gather(1, index)
    fraction = (u - cdf_lo) / (cdf_hi - cdf_lo).clamp_min(1e-12)
    return (edge_lo + fraction * (edge_hi - edge_lo)).detach()


def intervals(t: torch.Tensor, near: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
    """Interval edges (R, S + 1) of sorted samples ``t`` (R, S): near, the midpoints, far."""
    mids = 0.5 * (t[:, 1:] + t[:, :-1])
    return torch.cat([near.reshape(-1, 1).expand(-1, 1), mids, far.reshape(-1, 1).expand(-1, 1)], dim=-1)


@dataclass
class Composite:
    rgb: torch.Tensor
    """(R, 3) colour, over ``background`` where the ray is not opaque."""
    opacity: torch.Tensor
    """(R,) accumulated alpha."""
    depth: torch.Tensor
    """(R,) expected distance along the ray (weights-normalised; 0 where nothing was hit)."""
    weights: torch.Tensor
    """(R, S) contribution of every sample."""


def composite(
    rgb: torch.Tensor, density: torch.Tensor, t: torch.Tensor, near: torch.Tensor, far: torch.Tensor,
    background: torch.Tensor | None = None,
) -> Composite:
    """Alpha-composite samples: ``rgb`` (R, S, 3), ``density`` (R, S), ``t`` (R, S) sorted; ``background`` (3,) or (R, 3)."""
    edges = intervals(t, near, far)
    delta = (edges[:, 1:] - edges[:, :-1]).clamp_min(0.0)
    alpha = 1.0 - torch.exp(-density * delta)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], dim=-1), dim=-1)[:, :-1]
    weights = alpha * transmittance
    opacity = weights.sum(dim=-1)
    color = (weights[..., None] * rgb).sum(dim=1)
    if background is not None:
        color = color + (1.0 - opacity)[:, None] * background
    depth = (weights * t).sum(dim=-1) / opacity.clamp_min(1e-10)
    return Composite(rgb=color, opacity=opacity, depth=torch.where(opacity > 1e-6, depth, torch.zeros_like(depth)), weights=weights)


def density_normals(field: Field, points: torch.Tensor, method: str = "autograd", epsilon: float = 1e-3) -> torch.Tensor:
    """Unit normals (M, 3) = −∇σ / |∇σ| at ``points`` (M, 3), by autograd or central finite differences."""
    if method == "autograd":
        with torch.enable_grad():
            x = points.detach().requires_grad_(True)
            _, density = field(x)
            (gradient,) = torch.autograd.grad(density.sum(), x, create_graph=torch.is_grad_enabled())
    elif method == "finite_difference":
        offsets = torch.eye(3, device=points.device, dtype=points.dtype) * epsilon
        probes = torch.cat([points[:, None] + offsets, points[:, None] - offsets], dim=1).reshape(-1, 3)
        _, density = field(probes)
        density = density.reshape(-1, 2, 3)
        gradient = (density[:, 0] - density[:, 1]) / (2 * epsilon)
    else:
        raise ValueError(f"normals must be 'autograd' or 'finite_difference', not {method!r}")
    return -F.normalize(gradient, dim=-1, eps=1e-12)


@dataclass
class Rendered:
    rgb: torch.Tensor
    """(R, 3)."""
    opacity: torch.Tensor
    """(R,)."""
    depth: torch.Tensor
    """(R,) distance along the ray."""
    normals: torch.Tensor | None
    """(R, 3) weight-averaged world normals, or None when not asked for."""


def render_rays(
    field: Field,
    origins: torch.Tensor,
    directions: torch.Tensor,
    *,
    box: tuple[float, float],
    coarse: int = 48,
    fine: int = 48,
    perturb: bool = True,
    background: torch.Tensor | None = None,
    normals: str | None = None,
    generator: torch.Generator | None = None,
) -> Rendered:
    """Render rays (R, 3) through ``field`` inside the box [lo, hi]³: stratified then hierarchical sampling.

    The fine pass re-evaluates the coarse samples together with ``fine``
    importance samples (one network for both, as in EG3D). ``normals`` is
    None, ``"autograd"`` or ``"finite_difference"``.
    """
    near, far, hit = ray_box(origins, directions, *box)
    t = stratified(near, far, coarse, perturb, generator)
    if fine:
        with torch.no_grad():
            _, density = field((origins[:, None] + directions[:, None] * t[..., None]).reshape(-1, 3))
            weights = composite(torch.zeros(*t.shape, 3, device=t.device, dtype=t.dtype), density.reshape(t.shape), t, near, far).weights
        extra = importance(intervals(t, near, far), weights, fine, perturb, generator)
        t, _ = torch.sort(torch.cat([t, extra], dim=-1), dim=-1)
    points = (origins[:, None] + directions[:, None] * t[..., None]).reshape(-1, 3)
    rgb, density = field(points)
    density = torch.where(hit[:, None], density.reshape(t.shape), torch.zeros_like(t))
    out = composite(rgb.reshape(*t.shape, -1), density, t, near, far, background)
    normal_map = None
    if normals is not None:
        sample_normals = density_normals(field, points, normals).reshape(*t.shape, 3)
        normal_map = F.normalize((out.weights[..., None] * sample_normals).sum(dim=1), dim=-1, eps=1e-12)
    return Rendered(rgb=out.rgb, opacity=out.opacity, depth=out.depth, normals=normal_map)


def render_chunked(field: Field, origins: torch.Tensor, directions: torch.Tensor, chunk: int = 1 << 14, **kwargs) -> Rendered:
    """:func:`render_rays` over (..., 3) rays in chunks of ``chunk`` rays, outputs reshaped to (..., ·)."""
    shape = origins.shape[:-1]
    flat_o, flat_d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    parts = [render_rays(field, flat_o[i : i + chunk], flat_d[i : i + chunk], **kwargs) for i in range(0, flat_o.shape[0], chunk)]
    normals = None if parts[0].normals is None else torch.cat([p.normals for p in parts]).reshape(*shape, 3)
    return Rendered(
        rgb=torch.cat([p.rgb for p in parts]).reshape(*shape, 3),
        opacity=torch.cat([p.opacity for p in parts]).reshape(shape),
        depth=torch.cat([p.depth for p in parts]).reshape(shape),
        normals=normals,
    )
