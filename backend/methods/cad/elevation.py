"""The reference camera's elevation from novel views of the reference, by silhouette coherence.

CAD places the reference at azimuth 180° and needs its elevation (paper Sec. 3.3): the Blender
camera gives it when there is one; otherwise it is estimated here, as One-2-3-45 does with
Zero123 (Liu et al. 2023, Sec. 3.4): ask the view model for views of the reference at a few
*relative* poses (Δelevation, Δazimuth), then score each candidate elevation θ by how well the
cameras it implies — the reference at (θ, 180°), each view at (θ + Δe, 180° + Δa) — explain the
views. Azimuth offsets rotate about the world's vertical axis, whose tilt in the reference
camera is exactly θ, so a wrong θ puts the cameras in the wrong places.

One-2-3-45 scores with feature matches (LoFTR). The score here is silhouette coherence
(Hernández et al., "Silhouette coherence for camera calibration under circular motion", 2007),
which needs no matcher and works on untextured objects: under the right cameras every
foreground pixel's ray passes through the cone of every other view's silhouette, somewhere
along its length. The score is the mean, over the foreground rays of every view, of the best
(over the ray) worst (over the other views) bilinear mask value — 1 when all silhouettes agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ...core.cameras import get_rays, project, spherical_to_c2w
from .config import ElevationConfig
from ...core.masks import foreground_masks

PROBE_OFFSETS = ((25.0, 0.0), (0.0, 45.0), (0.0, 90.0), (0.0, 135.0), (0.0, 180.0), (0.0, 225.0), (0.0, 270.0), (0.0, 315.0),
                 (25.0, 90.0), (25.0, 270.0))  # fmt: skip
"""(Δelevation°, Δazimuth°) of the views asked of the view model: a turn around the object at the reference's
height, and three views from higher up. Wide baselines: silhouettes, unlike feature matches, need no overlap."""

USABLE_COVERAGE = (0.002, 0.9)
"""A silhouette covering less (nothing drawn) or more (the frame filled: noise, a background) of its image than this
says nothing about the cameras; such views are left out."""
MIN_VIEWS = 4
"""Fewer usable views than this (the reference among them) leave the estimate untrusted."""

ViewSource = Callable[[torch.Tensor], torch.Tensor]
"""Novel views of the reference: ``(K, 2)`` (Δelevation°, Δazimuth°) → images ``(K, 3, H, W)`` in [0, 1] on white."""


@dataclass(frozen=True)
class ElevationEstimate:
    """The chosen elevation and the scan behind it."""

    elevation: float
    """Elevation° of the reference camera."""
    coherence: float
    """Silhouette coherence at it, in [0, 1] (1: every silhouette explained)."""
    scanned: tuple[tuple[float, float], ...]
    """Every (elevation°, coherence) scored, coarse then fine."""
    views_used: int
    """Silhouettes scored, the reference's among them (see :data:`USABLE_COVERAGE`)."""

    @property
    def contrast(self) -> float:
        """How much better the chosen elevation explains the views than the worst one scanned."""
        return self.coherence - min(score for _, score in self.scanned)

    def trusted(self, config: ElevationConfig) -> bool:
        """Coherent enough, and discriminating enough, to be used."""
        return self.views_used >= MIN_VIEWS and self.coherence >= config.min_coherence and self.contrast >= config.min_contrast


def view_cameras(elevation: float, offsets: torch.Tensor, radius: float) -> torch.Tensor:
    """(K + 1, 4, 4) cameras of the reference at (``elevation``, 180°) followed by its views at ``offsets`` (K, 2)."""
    relative = torch.cat([torch.zeros(1, 2), offsets.float()])
    return spherical_to_c2w(elevation + relative[:, 0], 180.0 + relative[:, 1], torch.full((len(relative),), float(radius)))


def silhouette_coherence(masks: torch.Tensor, c2w: torch.Tensor, fov_deg: float, depth_range: tuple[float, float], ray_samples: int) -> float:
    """How well the cameras ``c2w`` (K, 4, 4) explain the silhouettes ``masks`` (K, S, S) in [0, 1], in [0, 1].

    For each view, its foreground rays are sampled at ``ray_samples`` depths in ``depth_range``; a
    ray scores the best, over its samples, of the lowest mask value (bilinear) the sample projects
    onto in the other views. The result is the mean over all views' foreground rays."""
    count, side = masks.shape[0], masks.shape[-1]
    origins, directions = get_rays(c2w, fov_deg, side, side)
    depths = torch.linspace(*depth_range, ray_samples)
    scores = []
    for k in range(count):
        foreground = masks[k] > 0.5
        if not foreground.any():
            continue
        points = (origins[k][foreground][:, None] + directions[k][foreground][:, None] * depths[:, None]).reshape(-1, 3)
        others = [j for j in range(count) if j != k]
        pixels, _ = project(points[None].expand(len(others), -1, -1), c2w[others], fov_deg, side, side)
        grid = (pixels / side * 2 - 1)[:, None]  # (K-1, 1, N, 2) in grid_sample's [-1, 1], pixel centres at i + ½
        values = F.grid_sample(masks[others][:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0, 0]
        scores.append(values.min(dim=0).values.reshape(-1, ray_samples).max(dim=1).values)
    return float(torch.cat(scores).mean()) if scores else 0.0


def estimate_from_masks(masks: torch.Tensor, offsets: torch.Tensor, fov_deg: float, radius: float, box: float, config: ElevationConfig) -> ElevationEstimate:
    """The elevation whose cameras best explain ``masks`` (K + 1, S, S): the reference's, then the views' at ``offsets``
    (K, 2). A coarse scan of ``config.search_range``, then a fine one around the best coarse candidate; rays are
    sampled through the sphere that holds the box [−box, box]³."""
    reach = box * 3**0.5
    depth_range = (radius - reach, radius + reach)

    def score(elevation: float) -> float:
        return silhouette_coherence(masks, view_cameras(elevation, offsets, radius), fov_deg, depth_range, config.ray_samples)

    low, high = config.search_range
    coarse = torch.arange(low, high + 1e-6, config.coarse_step_deg).tolist()
    scanned = [(e, score(e)) for e in coarse]
    best = max(scanned, key=lambda pair: pair[1])[0]
    fine = torch.arange(max(low, best - config.coarse_step_deg), min(high, best + config.coarse_step_deg) + 1e-6, config.fine_step_deg).tolist()
    scanned += [(e, score(e)) for e in fine if e not in coarse]
    elevation, coherence = max(scanned, key=lambda pair: (pair[1], -abs(pair[0] - best)))
    return ElevationEstimate(float(elevation), coherence, tuple(scanned), len(masks))


def masks_of(images: torch.Tensor, side: int, tolerance: float) -> torch.Tensor:
    """(N, side, side) float coverage of the foreground of ``images`` (N, 3, H, W) on white (area-resampled)."""
    masks = foreground_masks(images.float().cpu(), tolerance=tolerance).float()[:, None]
    return F.interpolate(masks, size=(side, side), mode="area")[:, 0]


def estimate_elevation(
    reference: torch.Tensor, views: ViewSource, fov_deg: float, radius: float, box: float, config: ElevationConfig, tolerance: float = 0.02
) -> ElevationEstimate:
    """Estimate the elevation of ``reference`` (3, H, W) in [0, 1] on white from the view model ``views``; views whose
    silhouette is empty or fills the frame are left out (an unusable reference leaves nothing to estimate)."""
    offsets = torch.tensor(PROBE_OFFSETS)
    images = views(offsets)
    masks = torch.cat([masks_of(reference[None], config.mask_size, tolerance), masks_of(images, config.mask_size, tolerance)])
    coverage = masks.mean(dim=(1, 2))
    usable = (coverage >= USABLE_COVERAGE[0]) & (coverage <= USABLE_COVERAGE[1])
    used = int(usable.sum()) if usable[0] else 0
    if used < MIN_VIEWS:
        return ElevationEstimate(0.0, 0.0, ((0.0, 0.0),), used)
    return estimate_from_masks(masks[usable], offsets[usable[1:]], fov_deg, radius, box, config)
