"""DTC123 as a backend method: input image (or synthetic target) → reference view → stage 1 → textured mesh."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from protocol.errors import ErrorCode

from ...core.export import ExportConfig, export_textured
from ...core.glb import MeshAsset
from ...core.uv import UnwrapOptions
from ...teachers.base import Condition, Teacher
from ...core.turntable import turntable_png
from ..base import JobContext, JobInputs, JobResult, MethodError, ResultFile
from .coarse import Reference, train_coarse
from .config import DTC123Config
from .field import CoarseField
from .frame import Frame
from .preprocess import reference_view

log = logging.getLogger(__name__)

TURNTABLE_ITEM = "turntable.png"
"""Result file: the finished mesh from eight azimuths, for a glance without Blender."""
ZERO123_SIZE = 256
"""Side of the reference image Zero-1-to-3 is conditioned on."""


def load_synthetic_target(config: DTC123Config, elevation: float, azimuth: float):
    """``(teacher, reference, frame, condition image)`` for the synthetic world: the target in the reconstruction frame,
    its render at the job's camera as the input image (and its depth as the depth estimate)."""
    from ...teachers.synthetic.render import MeshObject
    from ...teachers.synthetic.teacher import SyntheticTeacher

    path = Path(config.target).expanduser()
    if not config.target or not path.is_file():
        raise MethodError(f"teacher 'synthetic' needs 'target', a GLB file to reconstruct; {config.target!r} is not a file", ErrorCode.INVALID_PARAMS)
    try:
        target = MeshObject.from_glb(path)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds for a broken file
        raise MethodError(f"cannot read the target {path.name}: {exc}", ErrorCode.INVALID_PARAMS) from None
    frame = Frame.normalising(target.positions.double().numpy(), azimuth)
    target = replace(target, positions=frame.tensor_to_reconstruction(target.positions))
    teacher = SyntheticTeacher(target)
    size = config.coarse.resolution
    pose = torch.tensor([[elevation, 0.0, config.cameras.radius]])
    render = teacher.render(Condition(poses=pose, fov_deg=config.cameras.fov_deg), size, size)
    mask = render.mask[0]
    reference = Reference(rgb=render.rgb[0].permute(2, 0, 1), mask=mask, elevation=elevation, depth=torch.where(mask > 0.5, render.depth[0], 0.0))
    return teacher, reference, frame


def load_image_reference(inputs: JobInputs, config: DTC123Config, elevation: float) -> tuple[Reference, torch.Tensor]:
    """``(reference at the stage resolution, 256² conditioning image (1, 3, 256, 256))`` from the input image."""
    if inputs.image is None:
        raise MethodError("DTC123 needs an input image (or teacher 'synthetic' with a 'target')", ErrorCode.INVALID_PARAMS)
    try:
        view = reference_view(np.asarray(inputs.image.convert("RGBA")), ZERO123_SIZE, config.object_fraction, config.foreground_threshold)
    except ValueError as exc:
        raise MethodError(f"cannot use the input image: {exc}", ErrorCode.INVALID_PARAMS) from None
    size = config.coarse.resolution
    small = F.interpolate(torch.cat([view.rgb, view.mask])[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    return Reference(rgb=small[:3], mask=small[3], elevation=elevation), view.rgb[None]


def load_zero123(device: str) -> Teacher:
    from ...teachers import zero123

    return zero123.load(device=device)


def export_field(field: CoarseField, config: DTC123Config, frame: Frame | None) -> MeshAsset:
    """The field's surface (density = iso level) as a textured asset, in the object's frame when there is one."""
    device = next(field.parameters()).device
    export = ExportConfig(
        resolution=config.export_resolution, level=config.iso_density, inside="positive", target_faces=config.export_faces,
        unwrap=UnwrapOptions(texture_size=config.texture_size),
    )

    def on_device(function):
        return lambda points: function(points.to(device)).detach().cpu()

    field.set_step(config.coarse.iterations, config.coarse.iterations)
    with torch.no_grad():
        try:
            asset, _, _ = export_textured(on_device(field.density), on_device(field.albedo), (-config.field.bound, config.field.bound), export)
        except ValueError as exc:
            raise MethodError(f"the optimisation produced no surface ({exc}); try more iterations or a lower iso_density") from None
    if frame is not None:
        asset.positions = frame.to_object(asset.positions.astype(np.float64)).astype(np.float32)
        asset.normals = frame.rotate_to_object(asset.normals.astype(np.float64)).astype(np.float32)
    return asset


class DTC123Method:
    def run(self, inputs: JobInputs, config: DTC123Config, context: JobContext) -> JobResult:
        reporter = context.reporter
        reporter.plan([("prepare", 1), ("coarse", config.coarse.iterations), ("export", 1)])
        reporter.progress("prepare", 0, 1, "reading the input")
        camera = inputs.camera
        elevation = camera.elevation_deg if camera is not None else config.cameras.reference_elevation
        frame, condition_image = None, None
        if config.teacher == "synthetic":
            teacher, reference, frame = load_synthetic_target(config, elevation, camera.azimuth_deg if camera is not None else 0.0)
            reporter.log("synthetic teacher: the target's render at the job's camera is the input image; no weights are used")
        else:
            reference, condition_image = load_image_reference(inputs, config, elevation)
            teacher = load_zero123(context.device)
        device = torch.device(context.device)
        reference = Reference(reference.rgb.to(device), reference.mask.to(device), reference.elevation, None if reference.depth is None else reference.depth.to(device))
        torch.manual_seed(inputs.seed)
        field = CoarseField(config.field).to(device)
        reporter.progress("prepare", 1, 1, "ready")
        condition = Condition(prompt=inputs.prompt, negative_prompt=inputs.negative_prompt, image=condition_image)
        facts = train_coarse(field, teacher, condition, reference, config, reporter, context.work_dir, inputs.seed)
        reporter.progress("export", 0, 1, "extracting and texturing the surface")
        asset = export_field(field, config, frame)
        reporter.progress("export", 1, 1, f"{len(asset.faces)} faces")
        result = JobResult(metadata={**facts, "teacher": config.teacher, "elevation": elevation, "faces": len(asset.faces), "frame": "object" if frame is not None else "reconstruction"})
        result.add_mesh(asset)
        result.files[TURNTABLE_ITEM] = ResultFile(turntable_png(asset), "image/png")
        return result
