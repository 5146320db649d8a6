"""Stage 2: the DMTet refined by two teachers (Eq. 4) as the time-step falls and the tet grid and renders grow.

Each iteration rasterises the DMTet's surface at the phase's resolution: the reference view with the
stage-1 probability, supervised by RGB, mask (the antialiased coverage, whose silhouette-edge gradients move
the SDF and offsets) and Pearson-depth losses; otherwise a random view, where
the geometry teacher (Zero-1-to-3) scores the textureless shading — its gradient reaches only the SDF
and offsets — and the texture teacher (Stable Diffusion), weighted by the λ ramp, scores the coloured
render — its gradient reaches only the colour field. t continues the curriculum of stage 1 (one Eq. 2 over
both stages, at its small time-steps here); both gradients are weighted by the view's distance from the
reference view (footnote 2). In the last iterations x̂₀ comes from a multi-step
DDIM rollout; in the paper's azimuth bands each teacher's guidance is de-biased; a uniform-Laplacian
term smooths the mesh; Adan steps. Phase changes resample the DMTet onto the finer grid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from backend.core.cameras import spherical_to_c2w
from backend.core.mesh_render import UNTEXTURED_GREY, face_normals, shade
from backend.core.raster import interpolate, rasterize, soft_coverage, to_clip
from backend.teachers.base import Condition, Teacher, sds_loss

from ...engine.checkpoint import TrainingState
from ...engine.errors import MethodError
from ...engine.loop import Cadence, Reporter, Stage, Task, descend, run
from ...engine.adan import Adan
from ...engine.preview import PREVIEW_SIZE, preview_grid
from .coarse import PREVIEW_ELEVATION, Reference, random_pose, sds_weight
from .config import DTC123Config
from .debias import debias
from .field import CoarseField
from .losses import laplacian_smoothness, pearson_depth_loss
from .schedule import phase, stage_interval, texture_weight
from .tetmesh import TetGeometry

STAGE = "fine"
CHECKPOINT = "fine.safetensors"
"""Stage 2's checkpoint in the job's work folder."""


@dataclass
class SurfaceView:
    rgb: torch.Tensor
    """(1, 3, R, R) coloured render on white; its gradient reaches only the colour field."""
    shading: torch.Tensor
    """(1, 3, R, R) textureless head-lit shading on white; its gradient reaches only the geometry."""
    mask: torch.Tensor
    """(R, R) coverage in [0, 1]: antialiased across silhouette edges (differentiable in the geometry there) when
    rendered with ``antialiased_mask``, else the rasteriser's hard 0/1 coverage."""
    depth: torch.Tensor
    """(R, R) depth along the viewing axis (0 where empty)."""


@dataclass
class Teachers:
    """Stage 2's two roles (the synthetic world uses the ground truth for both)."""

    geometry: Teacher
    """Scores textureless shading (Zero-1-to-3, conditioned on the reference image)."""
    texture: Teacher
    """Scores the coloured render (Stable Diffusion, conditioned on the prompt)."""


class FineStudent(nn.Module):
    """What stage 2 optimises (and checkpoints): the DMTet and stage 1's colour field."""

    def __init__(self, geometry: TetGeometry, field: CoarseField) -> None:
        super().__init__()
        self.geometry = geometry
        self.field = field


def render_surface(positions: torch.Tensor, faces: torch.Tensor, field: CoarseField, pose: tuple[float, float, float], fov_deg: float, resolution: int,
                   antialiased_mask: bool = False) -> SurfaceView:  # fmt: skip
    """Rasterise the mesh (M, 3) / (F, 3) from (elevation°, azimuth°, radius) at ``resolution``². Only the reference
    view's mask loss needs the antialiased coverage (``antialiased_mask``); the teachers' views skip its cost."""
    device = positions.device
    c2w = spherical_to_c2w(*(torch.tensor([value], device=device) for value in pose))
    clip = to_clip(positions, c2w, fov_deg, resolution, resolution)
    raster = rasterize(clip, faces, resolution, resolution)
    covered = raster.mask[0]
    mask = covered.to(positions.dtype)
    normals = face_normals(positions, faces)[raster.triangle[0].clamp_min(0)] * mask[..., None]
    grey = torch.full_like(normals, UNTEXTURED_GREY)
    shading = shade(grey[None], normals[None], c2w)[0] * mask[..., None] + (1 - mask[..., None])
    points = interpolate(positions, raster, faces)[0]  # (R, R, 3)
    albedo = torch.zeros_like(points).index_put((covered,), field.albedo(points.detach()[covered]))
    rgb = albedo * mask[..., None] + (1 - mask[..., None])
    depth = ((points - c2w[0, :3, 3]) * -c2w[0, :3, 2]).sum(dim=-1) * mask
    coverage = soft_coverage(clip, faces, raster)[0] if antialiased_mask else mask
    return SurfaceView(rgb.permute(2, 0, 1)[None], shading.permute(2, 0, 1)[None], coverage, depth)


def reference_loss(view: SurfaceView, reference: Reference, config: DTC123Config) -> torch.Tensor:
    """RGB MSE + mask MSE (+ 1 − Pearson depth) of the rendered reference view."""
    fine = config.fine
    loss = fine.rgb_weight * F.mse_loss(view.rgb[0], reference.rgb) + fine.mask_weight * F.mse_loss(view.mask, reference.mask)
    if reference.depth is not None and fine.depth_weight > 0:
        loss = loss + fine.depth_weight * pearson_depth_loss(view.depth, reference.depth, (reference.mask > 0.5) & (view.mask > 0.5))
    return loss


def guidance(teacher: Teacher, image: torch.Tensor, condition: Condition, t: torch.Tensor, x0_steps: int, band: tuple[float, float],
             weight: float, config: DTC123Config, generator: torch.Generator) -> torch.Tensor:  # fmt: skip
    """The de-biased SDS loss of ``image`` (1, 3, R, R) under ``teacher`` (its pose in ``condition.poses``), its gradient
    scaled by the view's ``weight`` (footnote 2)."""
    x = teacher.encode(image)
    gradient = teacher.sds(x, condition, t, x0_steps=x0_steps, generator=generator).gradient
    azimuth = float(condition.poses[0, 1])
    return sds_loss(x, weight * debias(gradient, azimuth, band, config.fine.debias_dropout, config.fine.debias_clip, generator))


def preview_image(student: FineStudent, reference: Reference, config: DTC123Config, step: int) -> np.ndarray:
    """(2S, 2S, 3) float, S = :data:`~backend.engine.preview.PREVIEW_SIZE`: the reference, then the coloured surface and its
    shading from a camera circling the object, and the coloured surface from the opposite side, each rasterised at S²."""
    azimuth = 360.0 * step / max(config.fine.iterations, 1)
    with torch.no_grad():
        positions, faces = student.geometry.mesh()
        front, back = (render_surface(positions, faces, student.field, (PREVIEW_ELEVATION, azimuth + turn, config.cameras.radius),
                                      config.cameras.fov_deg, PREVIEW_SIZE) for turn in (0.0, 180.0))  # fmt: skip
    return preview_grid([reference.rgb, front.rgb[0], front.shading[0], back.rgb[0]])


def initial_geometry(field: CoarseField, surface: tuple[np.ndarray, np.ndarray], level: float, config: DTC123Config) -> TetGeometry:
    """The DMTet of the first phase fitted to stage 1's surface (inside: density above ``level``, the surface's; the fit fills
    what it encloses)."""
    device = next(field.parameters()).device
    geometry = TetGeometry(config.fine.grid_resolutions[0], config.field.bound, config.fine.max_deformation).to(device)

    def inside(points: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([field.density(chunk) > level for chunk in points.split(1 << 18)])

    geometry.fit_surface(*surface, inside)
    return geometry


class FineTask(Task):
    """Stage 2 as the engine drives it: the DMTet and colour field under both teachers, the grid growing by phase."""

    def __init__(self, field: CoarseField, surface: tuple[np.ndarray, np.ndarray], level: float, teachers: Teachers, condition: Condition,
                 reference: Reference, config: DTC123Config, seed: int, reporter: Reporter) -> None:  # fmt: skip
        fine = config.fine
        self.field, self.surface, self.level, self.teachers, self.reference, self.config = field, surface, level, teachers, reference, config
        self.reporter = reporter
        self.total = fine.iterations
        self.phases = len(fine.grid_resolutions)
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.reference_pose = (reference.elevation, 0.0, config.cameras.radius)
        self.geometry_condition = replace(
            condition, image=condition.image if condition.image is not None else reference.rgb[None],
            reference_pose=self.reference_pose, fov_deg=config.cameras.fov_deg, guidance_scale=fine.geometry_guidance,
        )
        self.texture_condition = replace(condition, image=None, fov_deg=config.cameras.fov_deg, guidance_scale=fine.texture_guidance)
        self.multi_step_from = self.total - round(fine.ddim_fraction * self.total)
        field.set_step(config.coarse.iterations, config.coarse.iterations)

    def _optimiser(self) -> Adan:
        return Adan(self.student.parameters(), lr=self.config.fine.lr, weight_decay=self.config.fine.weight_decay)

    def prepare(self, start: int) -> None:
        fine = self.config.fine
        if start:  # the grid of the last step run before the checkpoint; its values come from the checkpoint
            resolution = fine.grid_resolutions[phase(start - 1, self.total, self.phases)]
            geometry = TetGeometry(resolution, self.config.field.bound, fine.max_deformation).to(next(self.field.parameters()).device)
        else:
            geometry = initial_geometry(self.field, self.surface, self.level, self.config)
        self.student = FineStudent(geometry, self.field)
        self.optimizer = self._optimiser()

    def state(self) -> TrainingState:
        return TrainingState(modules={"student": self.student}, optimizers={"adan": self.optimizer}, generators={"rng": self.generator})

    def begin(self, step: int) -> str:
        fine = self.config.fine
        index = phase(step, self.total, self.phases)
        if fine.grid_resolutions[index] != self.student.geometry.resolution:
            self.student.geometry = self.student.geometry.resampled(fine.grid_resolutions[index])
            self.optimizer = self._optimiser()
            self.reporter.log(f"stage 2: tet grid {self.student.geometry.resolution}³, renders {fine.raster_resolutions[index]}²")
        self.resolution = fine.raster_resolutions[index]
        return f"tet grid {self.student.geometry.resolution}³ · {self.resolution}²"

    def step(self, step: int) -> dict[str, float]:
        config, fine, generator, teachers = self.config, self.config.fine, self.generator, self.teachers
        positions, faces = self.student.geometry.mesh()
        if len(faces) == 0:
            raise MethodError(f"stage 2 lost the surface at iteration {step}; try a lower fine.lr or fewer iterations")
        use_reference = float(torch.rand((), generator=generator)) < config.cameras.reference_probability
        pose = self.reference_pose if use_reference else random_pose(config, generator)
        view = render_surface(positions, faces, self.field, pose, config.cameras.fov_deg, self.resolution, antialiased_mask=use_reference)
        if use_reference:
            loss = reference_loss(view, self.reference.resized(self.resolution), config)
        else:
            coarse_iterations, curriculum = config.coarse.iterations, config.curriculum
            low, high = stage_interval(2, step, coarse_iterations, self.total, curriculum)
            x0_steps = fine.ddim_steps if step >= self.multi_step_from else 1
            poses = torch.tensor([pose], dtype=torch.float32)
            view_weight = sds_weight(pose, self.reference_pose, config)
            t = teachers.geometry.sample_timesteps(1, low, high, generator)
            geometry_condition = replace(self.geometry_condition, poses=poses)
            loss = guidance(teachers.geometry, view.shading, geometry_condition, t, x0_steps, fine.back_azimuths, view_weight, config, generator)
            weight = texture_weight(step, coarse_iterations, self.total, curriculum, fine.texture_weight)
            if weight > 0:
                t = teachers.texture.sample_timesteps(1, low, high, generator)
                texture_condition = replace(self.texture_condition, poses=poses)
                loss = loss + weight * guidance(teachers.texture, view.rgb, texture_condition, t, x0_steps, fine.side_azimuths, view_weight, config, generator)
        if fine.laplacian_weight > 0:
            loss = loss + fine.laplacian_weight * laplacian_smoothness(positions, faces)
        return {"loss": descend(self.optimizer, loss)}

    def preview(self, done: int) -> np.ndarray:
        return preview_image(self.student, self.reference, self.config, done)


def train_fine(
    field: CoarseField,
    surface: tuple[np.ndarray, np.ndarray],
    level: float,
    teachers: Teachers,
    condition: Condition,
    reference: Reference,
    config: DTC123Config,
    reporter: Reporter,
    work_dir: Path,
    seed: int,
) -> tuple[TetGeometry, dict[str, float]]:
    """Run (or resume) stage 2 on the engine from stage 1's ``field`` and its ``surface`` (vertices, faces) at density ``level``; returns the DMTet
    and facts for the result's metadata. ``condition`` carries the prompt and the reference image. Raises ``JobCancelled``
    on cancel."""
    fine = config.fine
    task = FineTask(field, surface, level, teachers, condition, reference, config, seed, reporter)
    outcome = run(task, [Stage(STAGE, fine.iterations)], Cadence(fine.preview_every, fine.checkpoint_every), reporter, work_dir / CHECKPOINT,
                  label="stage 2", unit="iteration")  # fmt: skip
    geometry = task.student.geometry
    return geometry, {"fine_iterations": outcome.total, "fine_resumed_at": outcome.resumed_at, "tet_grid": geometry.resolution}
