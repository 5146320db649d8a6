"""The density level of the stage-1 surface, calibrated on the one view whose silhouette is known: the reference.

A fixed level (stable-dreamfusion's and Magic123's 10) cuts away every part the NeRF holds only as a semi-transparent fog,
which is what SDS leaves where the teacher sees little (a white body on the white background the views are rendered on):
on the tiny preset's snowman the fixed level lost a quarter of its height while the fog matched the reference mask. The
calibrated level is the candidate whose silhouette — rays from the reference camera whose largest density reaches it —
best overlaps the reference mask (IoU); it depends only on the job's own field and input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...core.cameras import get_rays, spherical_to_c2w
from ...core.volume import ray_box, stratified
from .coarse import Reference
from .config import DTC123Config
from .field import CoarseField

LEVEL_STEPS = tuple(range(-6, 7))
"""Candidate levels are ``iso_density · 2^(k/2)`` for these k: a factor 8 either side of the fixed level in √2 steps."""
MAX_RESOLUTION = 128
"""The reference is compared at most at this resolution (its silhouette needs no more; keeps the ray march cheap)."""
SAMPLES_PER_PIXEL_ROW = 2
"""Density samples per ray = this × the comparison resolution (spacing below a pixel's footprint at the object)."""
CHUNK = 1 << 18
"""Points per density evaluation."""


@dataclass(frozen=True)
class SurfaceLevel:
    level: float
    """The density level of the surface."""
    silhouette_iou: float
    """IoU of its reference-view silhouette with the reference mask."""
    fixed_iou: float
    """The same IoU at the fixed ``iso_density``, for the log."""


def candidate_levels(base: float) -> torch.Tensor:
    """(K,) levels ``base · 2^(k/2)``, k in :data:`LEVEL_STEPS`, ascending."""
    return base * torch.tensor([2.0 ** (k / 2) for k in LEVEL_STEPS], dtype=torch.float64)


def silhouette_ious(max_density: torch.Tensor, mask: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """(K,) IoU of the silhouette ``max_density ≥ level`` (R, R) with ``mask > 0.5`` (R, R) for each of ``levels`` (K,);
    1 where both are empty."""
    inside = mask.reshape(1, -1) > 0.5
    covered = max_density.reshape(1, -1).double() >= levels.reshape(-1, 1).to(max_density.device)
    union = (covered | inside).sum(dim=1).double()
    return torch.where(union > 0, (covered & inside).sum(dim=1).double() / union.clamp_min(1), torch.ones_like(union))


def ray_max_density(field: CoarseField, pose: tuple[float, float, float], config: DTC123Config, resolution: int) -> torch.Tensor:
    """(R, R) the largest density along each ray of a ``resolution``² view from (elevation°, azimuth°, radius), sampled at
    bin centres of the ray's span in the field's box; 0 for rays that miss it."""
    device = next(field.parameters()).device
    c2w = spherical_to_c2w(*(torch.tensor([value], device=device) for value in pose))[0]
    origins, directions = (rays.reshape(-1, 3) for rays in get_rays(c2w, config.cameras.fov_deg, resolution, resolution))
    near, far, hit = ray_box(origins, directions, -config.field.bound, config.field.bound)
    t = stratified(near, far, SAMPLES_PER_PIXEL_ROW * resolution, perturb=False)
    points = (origins[:, None] + directions[:, None] * t[..., None]).reshape(-1, 3)
    with torch.no_grad():
        density = torch.cat([field.density(chunk) for chunk in points.split(CHUNK)]).reshape(t.shape)
    return torch.where(hit, density.amax(dim=1), torch.zeros_like(near)).reshape(resolution, resolution)


def reference_level(field: CoarseField, reference: Reference, config: DTC123Config) -> SurfaceLevel:
    """The candidate level (:func:`candidate_levels` of ``iso_density``) whose reference-view silhouette best matches the
    reference mask; the lowest of equals."""
    view = reference.resized(min(reference.mask.shape[-1], MAX_RESOLUTION))
    max_density = ray_max_density(field, (reference.elevation, 0.0, config.cameras.radius), config, view.mask.shape[-1])
    levels = candidate_levels(config.iso_density)
    ious = silhouette_ious(max_density, view.mask, levels).cpu()
    best = int(torch.argmax(ious))
    return SurfaceLevel(float(levels[best]), float(ious[best]), float(ious[LEVEL_STEPS.index(0)]))
