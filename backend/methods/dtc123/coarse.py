"""Stage 1: the hash-grid NeRF distilled from Zero-1-to-3 (or the synthetic teacher) at low resolution.

Each iteration renders one view: the reference view with probability 0.25, supervised by
RGB, mask and (when there is a depth estimate) Pearson-depth losses; otherwise a random view,
supervised by SDS with t drawn from the annealed interval of Eq. 2 — the first, large-t part of the one
curriculum both stages share — its gradient weighted by the view's distance from the reference view
(footnote 2). The band mask of Eq. 3 grows the visible hash levels, Eq. 10's normal consistency at the
rendered surface regularises the field, Adan steps.
The loop, its checkpoints and resuming are the engine's (:mod:`backend.engine.loop`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from backend.core.cameras import get_rays, spherical_to_c2w
from backend.core.volume import density_normals, render_chunked
from backend.teachers.base import Condition, Teacher, sds_loss

from ...engine.checkpoint import TrainingState
from ...engine.loop import Cadence, Reporter, Stage, Task, descend, run
from ...engine.adan import Adan
from ...engine.preview import preview_grid
from .config import DTC123Config
from .field import CoarseField
from .losses import normal_consistency, pearson_depth_loss
from .schedule import stage_interval
from .view_weight import angular_distance, view_weight

STAGE = "coarse"
CHECKPOINT = "coarse.safetensors"
"""Stage 1's checkpoint in the job's work folder."""
PREVIEW_ELEVATION = 15.0
"""Elevation° of the circling progress view."""
SURFACE_OPACITY = 0.5
"""Rays at least this opaque give Eq. 10 a point: their expected surface point, weighted by their opacity."""
DEPTH_COVERAGE_FLOOR = 1e-3
"""Pixels with less object coverage than this get depth ≈ 0 when the reference is resized (they are never masked in)."""
NORMAL_STEP = 1e-3
"""Central-difference step of the density normals of Eq. 10 (≪ β; below a cell of the finest hash level of the presets)."""


@dataclass
class Reference:
    """The reference view (made at the largest resolution a stage renders; each stage resizes it)."""

    rgb: torch.Tensor
    """(3, R, R) in [0, 1], white background."""
    mask: torch.Tensor
    """(R, R) in [0, 1]."""
    elevation: float
    """Elevation° of its camera (azimuth 0 by convention)."""
    depth: torch.Tensor | None = None
    """(R, R) depth estimate (any scale: only its correlation is used), or None."""

    def resized(self, size: int) -> "Reference":
        """The same view at ``size``² (area-weighted colours and mask; the depth averaged over the object's part of each
        pixel, so silhouette pixels keep the object's depth instead of mixing in the background's)."""
        if size == self.rgb.shape[-1]:
            return self
        planes = [self.rgb, self.mask[None]] + ([] if self.depth is None else [(self.depth * self.mask)[None]])
        small = F.interpolate(torch.cat(planes)[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
        depth = None if self.depth is None else small[4] / small[3].clamp_min(DEPTH_COVERAGE_FLOOR)
        return Reference(small[:3], small[3], self.elevation, depth)


@dataclass
class View:
    rgb: torch.Tensor
    """(1, 3, R, R) on white."""
    opacity: torch.Tensor
    """(R, R)."""
    depth: torch.Tensor
    """(R, R) distance along the ray."""
    origins: torch.Tensor
    """(R, R, 3) ray origins (the camera centre)."""
    directions: torch.Tensor
    """(R, R, 3) unit ray directions."""
    forward: torch.Tensor
    """(3,) the camera's viewing axis."""

    @property
    def axial_depth(self) -> torch.Tensor:
        """(R, R) depth along the viewing axis — the reference depth's convention (a rasteriser's z, a depth model's map);
        the ray distance exceeds it by 1/cos of the ray's angle off the axis, ~7 % at the edge of a 49° view."""
        return self.depth * (self.directions * self.forward).sum(dim=-1)

    def surface_points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(points (M, 3), opacity (M,))``: the expected surface point o + depth·d of each ray at least
        :data:`SURFACE_OPACITY` opaque, and its opacity (both detached)."""
        hit = (self.opacity >= SURFACE_OPACITY).detach()
        points = self.origins[hit] + self.depth.detach()[hit, None] * self.directions[hit]
        return points, self.opacity.detach()[hit]


def render_view(field: CoarseField, pose: tuple[float, float, float], config: DTC123Config, resolution: int, generator: torch.Generator | None, perturb: bool = True) -> View:
    """Volume-render the field from (elevation°, azimuth°, radius) at ``resolution``² (in chunks of rays, so a large preview
    fits in memory)."""
    device = next(field.parameters()).device
    c2w = spherical_to_c2w(*(torch.tensor([value], device=device) for value in pose))[0]
    origins, directions = get_rays(c2w, config.cameras.fov_deg, resolution, resolution)
    out = render_chunked(
        field, origins, directions, box=(-config.field.bound, config.field.bound),
        coarse=config.coarse.samples, fine=config.coarse.importance_samples, perturb=perturb, background=torch.ones(3, device=device), generator=generator,
    )
    return View(out.rgb.permute(2, 0, 1)[None], out.opacity, out.depth, origins, directions, -c2w[:3, 2])


def random_pose(config: DTC123Config, generator: torch.Generator) -> tuple[float, float, float]:
    """Elevation uniform in the configured range, azimuth uniform on the circle, the fixed radius."""
    low, high = config.cameras.elevation_range
    elevation = low + (high - low) * float(torch.rand((), generator=generator))
    azimuth = -180.0 + 360.0 * float(torch.rand((), generator=generator))
    return elevation, azimuth, config.cameras.radius


def reference_loss(view: View, reference: Reference, config: DTC123Config) -> torch.Tensor:
    """RGB MSE + mask MSE (+ 1 − Pearson depth) against the reference view."""
    coarse = config.coarse
    loss = coarse.rgb_weight * F.mse_loss(view.rgb[0], reference.rgb) + coarse.mask_weight * F.mse_loss(view.opacity, reference.mask)
    if reference.depth is not None and coarse.depth_weight > 0:
        loss = loss + coarse.depth_weight * pearson_depth_loss(view.axial_depth, reference.depth, reference.mask > 0.5)
    return loss


def normal_regulariser(field: CoarseField, view: View, beta: float, generator: torch.Generator) -> torch.Tensor:
    """Eq. 10 at the view's surface points, with the field's normals −∇σ/|∇σ| by central differences."""
    points, opacity = view.surface_points()
    return normal_consistency(lambda p: density_normals(field, p, "finite_difference", NORMAL_STEP), points, opacity, beta, generator)


def sds_weight(pose: tuple[float, float, float], reference_pose: tuple[float, float, float], config: DTC123Config) -> float:
    """Footnote 2's weight of a view's SDS gradient (:func:`~.view_weight.view_weight` of its angle from the reference view)."""
    return view_weight(angular_distance(pose, reference_pose), config.view_weight.minimum, config.view_weight.power)


def preview_image(field: CoarseField, reference: Reference, config: DTC123Config, step: int) -> np.ndarray:
    """(S, 2S, 3) float, S = :data:`~backend.engine.preview.PREVIEW_SIZE`: the reference beside the student rendered at
    ``coarse.preview_resolution``² from a camera circling the object."""
    azimuth = 360.0 * step / max(config.coarse.iterations, 1)
    with torch.no_grad():
        view = render_view(field, (PREVIEW_ELEVATION, azimuth, config.cameras.radius), config, config.coarse.preview_resolution, None, perturb=False)
    return preview_grid([reference.rgb, view.rgb[0]])


class CoarseTask(Task):
    """Stage 1 as the engine drives it: one view per iteration, the reference view or an SDS-scored random one."""

    def __init__(self, field: CoarseField, teacher: Teacher, condition: Condition, reference: Reference, config: DTC123Config, seed: int) -> None:
        coarse = config.coarse
        self.field, self.teacher, self.config = field, teacher, config
        self.total = coarse.iterations
        self.reference = reference.resized(coarse.resolution)
        self.full_reference = reference  # previews show it at its own size
        self.optimizer = Adan(field.parameters(), lr=coarse.lr, weight_decay=coarse.weight_decay)
        self.generator = torch.Generator().manual_seed(seed)
        self.reference_pose = (reference.elevation, 0.0, config.cameras.radius)
        self.condition = replace(
            condition, image=condition.image if condition.image is not None else self.reference.rgb[None],
            reference_pose=self.reference_pose, fov_deg=config.cameras.fov_deg, guidance_scale=coarse.guidance,
        )

    def state(self) -> TrainingState:
        return TrainingState(modules={"field": self.field}, optimizers={"adan": self.optimizer}, generators={"rng": self.generator})

    def begin(self, step: int) -> str:
        self.field.set_step(step, self.total)  # the band mask of Eq. 3
        return ""

    def step(self, step: int) -> dict[str, float]:
        config, coarse = self.config, self.config.coarse
        use_reference = float(torch.rand((), generator=self.generator)) < config.cameras.reference_probability
        pose = self.reference_pose if use_reference else random_pose(config, self.generator)
        view = render_view(self.field, pose, config, coarse.resolution, self.generator)
        if use_reference:
            loss = reference_loss(view, self.reference, config)
        else:
            low, high = stage_interval(1, step, self.total, config.fine.iterations, config.curriculum)
            t = self.teacher.sample_timesteps(1, low, high, self.generator)
            x = self.teacher.encode(view.rgb)
            posed = replace(self.condition, poses=torch.tensor([pose], dtype=torch.float32))
            gradient = self.teacher.sds(x, posed, t, generator=self.generator).gradient
            loss = sds_loss(x, sds_weight(pose, self.reference_pose, config) * gradient)
        if coarse.normal_smooth_weight > 0:
            loss = loss + coarse.normal_smooth_weight * normal_regulariser(self.field, view, coarse.normal_perturbation, self.generator)
        return {"loss": descend(self.optimizer, loss)}

    def preview(self, done: int) -> np.ndarray:
        return preview_image(self.field, self.full_reference, self.config, done)


def train_coarse(
    field: CoarseField,
    teacher: Teacher,
    condition: Condition,
    reference: Reference,
    config: DTC123Config,
    reporter: Reporter,
    work_dir: Path,
    seed: int,
) -> dict[str, float]:
    """Run (or resume) stage 1 on the engine; returns facts for the result's metadata. Raises ``JobCancelled`` on cancel."""
    coarse = config.coarse
    outcome = run(
        CoarseTask(field, teacher, condition, reference, config, seed), [Stage(STAGE, coarse.iterations)],
        Cadence(coarse.preview_every, coarse.checkpoint_every), reporter, work_dir / CHECKPOINT, label="stage 1", unit="iteration",
    )  # fmt: skip
    return {"coarse_iterations": outcome.total, "coarse_resumed_at": outcome.resumed_at}
