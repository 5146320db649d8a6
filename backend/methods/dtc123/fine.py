"""Stage 2: the DMTet refined by two teachers (Eq. 4) as the time-step falls and the tet grid and renders grow.

Each iteration rasterises the DMTet's surface at the phase's resolution: the reference view with the
stage-1 probability, supervised by RGB, mask and Pearson-depth losses; otherwise a random view, where
the geometry teacher (Zero-1-to-3) scores the textureless shading — its gradient reaches only the SDF
and offsets — and the texture teacher (Stable Diffusion), weighted by the λ ramp, scores the coloured
render — its gradient reaches only the colour field. In the last iterations x̂₀ comes from a multi-step
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
from backend.core.raster import interpolate, rasterize, to_clip
from backend.teachers.base import Condition, Teacher, sds_loss

from ..base import MethodError
from ..progress import ProgressReporter
from . import checkpoint
from .adan import Adan
from .coarse import PREVIEW_ELEVATION, Reference, random_pose
from .config import DTC123Config
from .debias import debias
from .field import CoarseField
from .losses import laplacian_smoothness, pearson_depth_loss
from .schedule import phase, texture_weight, timestep_interval
from .tetmesh import TetGeometry

STAGE = "fine"
PREVIEW_MAX = 256
"""Side cap of the progress render (the stage renders up to 512²)."""


@dataclass
class SurfaceView:
    rgb: torch.Tensor
    """(1, 3, R, R) coloured render on white; its gradient reaches only the colour field."""
    shading: torch.Tensor
    """(1, 3, R, R) textureless head-lit shading on white; its gradient reaches only the geometry."""
    mask: torch.Tensor
    """(R, R) coverage."""
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


def render_surface(positions: torch.Tensor, faces: torch.Tensor, field: CoarseField, pose: tuple[float, float, float], fov_deg: float, resolution: int) -> SurfaceView:
    """Rasterise the mesh (M, 3) / (F, 3) from (elevation°, azimuth°, radius) at ``resolution``²."""
    device = positions.device
    c2w = spherical_to_c2w(*(torch.tensor([value], device=device) for value in pose))
    raster = rasterize(to_clip(positions, c2w, fov_deg, resolution, resolution), faces, resolution, resolution)
    covered = raster.mask[0]
    mask = covered.to(positions.dtype)
    normals = face_normals(positions, faces)[raster.triangle[0].clamp_min(0)] * mask[..., None]
    grey = torch.full_like(normals, UNTEXTURED_GREY)
    shading = shade(grey[None], normals[None], c2w)[0] * mask[..., None] + (1 - mask[..., None])
    points = interpolate(positions, raster, faces)[0]  # (R, R, 3)
    albedo = torch.zeros_like(points).index_put((covered,), field.albedo(points.detach()[covered]))
    rgb = albedo * mask[..., None] + (1 - mask[..., None])
    depth = ((points - c2w[0, :3, 3]) * -c2w[0, :3, 2]).sum(dim=-1) * mask
    return SurfaceView(rgb.permute(2, 0, 1)[None], shading.permute(2, 0, 1)[None], mask, depth)


def reference_loss(view: SurfaceView, reference: Reference, config: DTC123Config) -> torch.Tensor:
    """RGB MSE + mask MSE (+ 1 − Pearson depth) of the rendered reference view."""
    fine = config.fine
    loss = fine.rgb_weight * F.mse_loss(view.rgb[0], reference.rgb) + fine.mask_weight * F.mse_loss(view.mask, reference.mask)
    if reference.depth is not None and fine.depth_weight > 0:
        loss = loss + fine.depth_weight * pearson_depth_loss(view.depth, reference.depth, (reference.mask > 0.5) & (view.mask > 0.5))
    return loss


def guidance(teacher: Teacher, image: torch.Tensor, condition: Condition, t: torch.Tensor, x0_steps: int, band: tuple[float, float], config: DTC123Config, generator: torch.Generator) -> torch.Tensor:
    """The de-biased SDS loss of ``image`` (1, 3, R, R) under ``teacher`` (its pose in ``condition.poses``)."""
    x = teacher.encode(image)
    gradient = teacher.sds(x, condition, t, x0_steps=x0_steps, generator=generator).gradient
    azimuth = float(condition.poses[0, 1])
    return sds_loss(x, debias(gradient, azimuth, band, config.fine.debias_dropout, config.fine.debias_clip, generator))


def preview_image(student: FineStudent, reference: Reference, config: DTC123Config, step: int, resolution: int) -> np.ndarray:
    """(R, 3R, 3) float: the reference, the coloured surface and its shading from a camera circling the object."""
    size = min(resolution, PREVIEW_MAX)
    azimuth = 360.0 * step / max(config.fine.iterations, 1)
    with torch.no_grad():
        positions, faces = student.geometry.mesh()
        view = render_surface(positions, faces, student.field, (PREVIEW_ELEVATION, azimuth, config.cameras.radius), config.cameras.fov_deg, size)
    panels = [reference.resized(size).rgb.cpu(), view.rgb[0].cpu(), view.shading[0].cpu()]
    return torch.cat(panels, dim=2).permute(1, 2, 0).numpy()


def initial_geometry(field: CoarseField, surface: tuple[np.ndarray, np.ndarray], config: DTC123Config) -> TetGeometry:
    """The DMTet of the first phase fitted to stage 1's surface (inside: density above the iso level)."""
    device = next(field.parameters()).device
    geometry = TetGeometry(config.fine.grid_resolutions[0], config.field.bound, config.fine.max_deformation).to(device)

    def inside(points: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([field.density(chunk) > config.iso_density for chunk in points.split(1 << 18)])

    geometry.fit_surface(*surface, inside)
    return geometry


def train_fine(
    field: CoarseField,
    surface: tuple[np.ndarray, np.ndarray],
    teachers: Teachers,
    condition: Condition,
    reference: Reference,
    config: DTC123Config,
    reporter: ProgressReporter,
    work_dir: Path,
    seed: int,
) -> tuple[TetGeometry, dict[str, float]]:
    """Run (or resume) stage 2 from stage 1's ``field`` and its ``surface`` (vertices, faces); returns the DMTet and facts for
    the result's metadata. ``condition`` carries the prompt and the reference image. Raises ``JobCancelled`` on cancel."""
    fine = config.fine
    total = fine.iterations
    phases = len(fine.grid_resolutions)
    device = next(field.parameters()).device
    path = work_dir / "fine.safetensors"
    start = checkpoint.saved_step(path)
    field.set_step(config.coarse.iterations, config.coarse.iterations)
    if start:
        saved = fine.grid_resolutions[phase(start - 1, total, phases)]  # the grid of the last step run before the checkpoint
        geometry = TetGeometry(saved, config.field.bound, fine.max_deformation).to(device)
    else:
        geometry = initial_geometry(field, surface, config)
    student = FineStudent(geometry, field)
    optimizer = Adan(student.parameters(), lr=fine.lr, weight_decay=fine.weight_decay)
    generator = torch.Generator().manual_seed(seed + 1)
    if start:
        checkpoint.load(path, student, optimizer, generator)
        reporter.log(f"stage 2 resumes at iteration {start} of {total}")
    curriculum = replace(config.curriculum, t_max=fine.t_max)
    reference_pose = (reference.elevation, 0.0, config.cameras.radius)
    geometry_condition = replace(
        condition, image=condition.image if condition.image is not None else reference.rgb[None],
        reference_pose=reference_pose, fov_deg=config.cameras.fov_deg, guidance_scale=fine.geometry_guidance,
    )
    texture_condition = replace(condition, image=None, fov_deg=config.cameras.fov_deg, guidance_scale=fine.texture_guidance)
    multi_step_from = total - round(fine.ddim_fraction * total)
    for step in range(start, total):
        index = phase(step, total, phases)
        if fine.grid_resolutions[index] != student.geometry.resolution:
            student.geometry = student.geometry.resampled(fine.grid_resolutions[index])
            optimizer = Adan(student.parameters(), lr=fine.lr, weight_decay=fine.weight_decay)
            reporter.log(f"stage 2: tet grid {student.geometry.resolution}³, renders {fine.raster_resolutions[index]}²")
        resolution = fine.raster_resolutions[index]
        reporter.progress(STAGE, step, total, f"iteration {step} of {total} · tet grid {student.geometry.resolution}³ · {resolution}²")
        positions, faces = student.geometry.mesh()
        if len(faces) == 0:
            raise MethodError(f"stage 2 lost the surface at iteration {step}; try a lower fine.lr or fewer iterations")
        use_reference = float(torch.rand((), generator=generator)) < config.cameras.reference_probability
        pose = reference_pose if use_reference else random_pose(config, generator)
        view = render_surface(positions, faces, field, pose, config.cameras.fov_deg, resolution)
        if use_reference:
            loss = reference_loss(view, reference.resized(resolution), config)
        else:
            low, high = timestep_interval(step, total, curriculum)
            x0_steps = fine.ddim_steps if step >= multi_step_from else 1
            poses = torch.tensor([pose], dtype=torch.float32)
            t = teachers.geometry.sample_timesteps(1, low, high, generator)
            loss = guidance(teachers.geometry, view.shading, replace(geometry_condition, poses=poses), t, x0_steps, fine.back_azimuths, config, generator)
            weight = texture_weight(step, total, curriculum, fine.texture_weight)
            if weight > 0:
                t = teachers.texture.sample_timesteps(1, low, high, generator)
                loss = loss + weight * guidance(teachers.texture, view.rgb, replace(texture_condition, poses=poses), t, x0_steps, fine.side_azimuths, config, generator)
        if fine.laplacian_weight > 0:
            loss = loss + fine.laplacian_weight * laplacian_smoothness(positions, faces)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"stage 2 diverged at iteration {step} (loss {float(loss)})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = step + 1
        if done % fine.preview_every == 0 or done == total:
            reporter.preview(preview_image(student, reference, config, done, resolution), force=True)
        if done % fine.checkpoint_every == 0 and done < total:
            checkpoint.save(path, done, student, optimizer, generator)
    reporter.progress(STAGE, total, total, "stage 2 done")
    checkpoint.save(path, total, student, optimizer, generator)
    return student.geometry, {"fine_iterations": total, "fine_resumed_at": start, "tet_grid": student.geometry.resolution}
