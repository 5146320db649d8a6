"""DTC123 as a backend method: input image (or synthetic target) → reference view → stage 1 (NeRF) → stage 2 (DMTet) → textured mesh."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from protocol.errors import ErrorCode
from protocol.schema import SchemaError

from ...core import mesh_ops
from ...core.export import ExportConfig, extract_surface, textured_asset
from ...core.glb import MeshAsset
from ...core.turntable import turntable_png
from ...core.uv import UnwrapOptions
from ...teachers.base import Condition, Teacher
from ..base import JobContext, JobInputs, JobResult, MethodError, ResultFile
from ..gpu_memory import GpuMemoryConfig
from .coarse import Reference, train_coarse
from .config import DTC123Config
from .field import CoarseField
from .fine import Teachers, train_fine
from .surface_level import reference_level
from ...core.frame import Frame
from ..preprocess import reference_view

log = logging.getLogger(__name__)

TURNTABLE_ITEM = "turntable.png"
"""Result file: the finished mesh from eight azimuths, for a glance without Blender."""
ZERO123_SIZE = 256
"""Side of the reference image Zero-1-to-3 is conditioned on."""


def reference_size(config: DTC123Config) -> int:
    """Side of the reference view: the largest resolution either stage renders."""
    return max(config.coarse.resolution, max(config.fine.raster_resolutions) if config.fine.iterations else 0)


def load_synthetic_target(config: DTC123Config, elevation: float, azimuth: float) -> tuple[Teacher, Teacher, Reference, Frame]:
    """``(albedo teacher, shading teacher, reference, frame)`` for the synthetic world: the target in the reconstruction frame;
    its render at the job's camera is the input image (and its depth the depth estimate). The albedo teacher stands in for
    Zero-1-to-3 in stage 1 and for Stable Diffusion in stage 2; the shading teacher, the target untextured and head-lit,
    for Zero-1-to-3 on stage 2's textureless shading."""
    from ...core.mesh_render import UNTEXTURED_GREY
    from ...teachers.synthetic.render import MeshObject
    from ...teachers.synthetic.teacher import SyntheticTeacher, SyntheticTeacherConfig

    try:
        config.check_inputs()  # checked at submit too; the file may have gone since
    except SchemaError as exc:
        raise MethodError(f"invalid parameter {exc}", ErrorCode.INVALID_PARAMS) from None
    path = Path(config.target).expanduser()
    try:
        target = MeshObject.from_glb(path)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds for a broken file
        raise MethodError(f"cannot read the target {path.name}: {exc}", ErrorCode.INVALID_PARAMS) from None
    frame = Frame.normalising(target.positions.double().numpy(), azimuth)
    target = replace(target, positions=frame.tensor_to_reconstruction(target.positions))
    teacher = SyntheticTeacher(target)
    untextured = replace(target, colors=torch.full_like(target.positions, UNTEXTURED_GREY), uvs=None, texture=None)
    shading_teacher = SyntheticTeacher(untextured, SyntheticTeacherConfig(shaded=True))
    size = reference_size(config)
    pose = torch.tensor([[elevation, 0.0, config.cameras.radius]])
    render = teacher.render(Condition(poses=pose, fov_deg=config.cameras.fov_deg), size, size)
    mask = render.mask[0]
    reference = Reference(rgb=render.rgb[0].permute(2, 0, 1), mask=mask, elevation=elevation, depth=torch.where(mask > 0.5, render.depth[0], 0.0))
    return teacher, shading_teacher, reference, frame


def load_image_reference(inputs: JobInputs, config: DTC123Config, elevation: float) -> tuple[Reference, torch.Tensor]:
    """``(reference at :func:`reference_size`, 256² conditioning image (1, 3, 256, 256))`` from the input image."""
    if inputs.image is None:
        raise MethodError("DTC123 needs an input image (or teacher 'synthetic' with a 'target')", ErrorCode.INVALID_PARAMS)
    try:
        view = reference_view(np.asarray(inputs.image.convert("RGBA")), ZERO123_SIZE, config.object_fraction, config.foreground_threshold)
    except ValueError as exc:
        raise MethodError(f"cannot use the input image: {exc}", ErrorCode.INVALID_PARAMS) from None
    size = reference_size(config)
    planes = F.interpolate(torch.cat([view.rgb, view.mask])[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    return Reference(rgb=planes[:3], mask=planes[3], elevation=elevation), view.rgb[None]


def load_registry_teacher(role: str, device: str, memory: GpuMemoryConfig) -> Teacher:
    """A teacher from the model registry's folder for ``role`` ('zero123' or 'stable_diffusion'), with ``memory``'s options."""
    from ...teachers import stable_diffusion, zero123

    return {"zero123": zero123.load, "stable_diffusion": stable_diffusion.load}[role](device=device, **memory.loader_options())


def with_estimated_depth(reference: Reference, config: DTC123Config, device: str, log: Callable[[str], None]) -> Reference:
    """``reference`` with the depth model's estimate as its depth (for the Pearson term) when ``reference_depth`` asks for
    it: 'on' always, 'auto' when the registry's ``depth`` model is on disk. The estimate is inverse depth, so its negation
    stands in for distance (the Pearson term ignores scale and shift)."""
    from ...teachers import depth, registry

    if config.reference_depth == "off" or (config.reference_depth == "auto" and not registry.resolve("depth").present):
        log("the reference depth (Pearson) term is off" + ("" if config.reference_depth == "off" else ": no depth model on disk"))
        return reference
    estimate = depth.load(device=device)(reference.rgb[None])[0, 0].cpu()
    log("reference depth: estimated by the depth model")
    return Reference(reference.rgb, reference.mask, reference.elevation, torch.where(reference.mask > 0.5, -estimate, torch.zeros_like(estimate)))


def prompt_or_caption(inputs: JobInputs, config: DTC123Config, device: str, log: Callable[[str], None]) -> str:
    """The job's prompt; when it is empty and ``caption`` asks for it ('on', or 'auto' with the model on disk), the
    registry's captioner's description of the input image."""
    from ...teachers import captioner, registry

    if inputs.prompt.strip() or inputs.image is None:
        return inputs.prompt
    if config.caption == "on" or (config.caption == "auto" and registry.resolve("captioner").present):
        caption = captioner.load(device=device)(inputs.image)
        log(f"prompt by the captioner: {caption!r}")
        return caption
    return inputs.prompt


def llm_view_prompts(prompt: str, config: DTC123Config, device: str, log: Callable[[str], None]) -> dict[str, str] | None:
    """Per-view prompts from the registry's text model — one instruction for all the views, so they agree (paper Appendix C) —
    when ``view_prompts`` asks for them ('on', or 'auto' with the model on disk) and there is a prompt and a stage 2; None
    keeps the templates."""
    from ...teachers import registry, text_model

    wanted = config.view_prompts == "on" or (config.view_prompts == "auto" and registry.resolve("text_model").present)
    if not wanted or not prompt.strip() or config.fine.iterations == 0:
        return None
    prompts = text_model.load(device=device).view_prompts(prompt.strip())
    log("view prompts by the text model: " + " | ".join(f"{view}: {text}" for view, text in prompts.items()))
    return prompts


TeacherLoader = Callable[[str, str, GpuMemoryConfig], Teacher]
"""(role, device, memory options) → teacher; the registry's by default, full-size random-weight ones in ``bench dtc123``."""


def on_device(function, device: torch.device):
    """A colour or density field on ``device`` as the CPU callable the exporter wants."""
    return lambda points: function(points.to(device)).detach().cpu()


def stage1_surface(field: CoarseField, config: DTC123Config, level: float, decimate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the stage-1 density at ``level`` (cleaned; decimated to ``export_faces`` when asked)."""
    device = next(field.parameters()).device
    export = ExportConfig(resolution=config.export_resolution, level=level, inside="positive", target_faces=config.export_faces if decimate else 0)
    with torch.no_grad():
        try:
            return extract_surface(on_device(field.density, device), (-config.field.bound, config.field.bound), export)
        except ValueError as exc:
            raise MethodError(f"stage 1 produced no surface ({exc}); try more iterations or a lower iso_density") from None


def choose_surface_level(field: CoarseField, reference: Reference, config: DTC123Config, log: Callable[[str], None]) -> float:
    """The stage-1 surface's density level: ``iso_density``, or with ``surface_level`` 'reference' the level whose
    reference-view silhouette best matches the reference mask (:func:`.surface_level.reference_level`); logged."""
    if config.surface_level == "fixed":
        return config.iso_density
    chosen = reference_level(field, reference, config)
    log(f"stage-1 surface at density {chosen.level:.3g}: its reference silhouette overlaps the mask by IoU {chosen.silhouette_iou:.3f} "
        f"(the fixed level {config.iso_density:g}: {chosen.fixed_iou:.3f})")
    return chosen.level


def export_mesh(vertices: np.ndarray, faces: np.ndarray, field: CoarseField, config: DTC123Config, frame: Frame | None) -> MeshAsset:
    """A textured asset of the mesh (reconstruction frame), coloured by the field, in the object's frame when there is one."""
    vertices, faces = mesh_ops.clean(vertices.astype(np.float32), faces.astype(np.int64))
    vertices, faces = mesh_ops.decimate(vertices, faces, config.export_faces)
    if len(faces) == 0:
        raise MethodError("the optimisation produced no surface; try more iterations or a lower iso_density")
    export = ExportConfig(unwrap=UnwrapOptions(texture_size=config.texture_size))
    with torch.no_grad():
        asset = textured_asset(vertices, faces, on_device(field.albedo, next(field.parameters()).device), export)
    if frame is not None:
        asset.positions = frame.to_object(asset.positions.astype(np.float64)).astype(np.float32)
        asset.normals = frame.rotate_to_object(asset.normals.astype(np.float64)).astype(np.float32)
    return asset


class DTC123Method:
    def __init__(self, load_teacher: TeacherLoader = load_registry_teacher) -> None:
        self.load_teacher = load_teacher

    def run(self, inputs: JobInputs, config: DTC123Config, context: JobContext) -> JobResult:
        reporter = context.reporter
        fine_iterations = config.fine.iterations
        reporter.plan([("prepare", 1), ("coarse", config.coarse.iterations), *([("fine", fine_iterations)] if fine_iterations else []), ("export", 1)])
        reporter.progress("prepare", 0, 1, "reading the input")
        camera = inputs.camera
        elevation = camera.elevation_deg if camera is not None else config.cameras.reference_elevation
        frame, condition_image, shading_teacher = None, None, None
        if config.teacher == "synthetic":
            teacher, shading_teacher, reference, frame = load_synthetic_target(config, elevation, camera.azimuth_deg if camera is not None else 0.0)
            reporter.log("synthetic teacher: the target's render at the job's camera is the input image; no weights are used")
        else:
            reference, condition_image = load_image_reference(inputs, config, elevation)
            reference = with_estimated_depth(reference, config, context.device, reporter.log)
            teacher = self.load_teacher("zero123", context.device, config.memory)
        device = torch.device(context.device)
        reference = Reference(reference.rgb.to(device), reference.mask.to(device), reference.elevation, None if reference.depth is None else reference.depth.to(device))
        torch.manual_seed(inputs.seed)
        field = CoarseField(config.field).to(device)
        reporter.progress("prepare", 1, 1, "ready")
        prompt, per_view = inputs.prompt, None
        if config.teacher != "synthetic":
            prompt = prompt_or_caption(inputs, config, context.device, reporter.log)
            per_view = llm_view_prompts(prompt, config, context.device, reporter.log)
        condition = Condition(prompt=prompt, negative_prompt=inputs.negative_prompt, image=condition_image, view_prompts=per_view)
        facts = train_coarse(field, teacher, condition, reference, config, reporter, context.work_dir, inputs.seed)
        field.set_step(config.coarse.iterations, config.coarse.iterations)  # every hash level open, as at the end of stage 1
        level = choose_surface_level(field, reference, config, reporter.log)
        facts["surface_level"] = level
        vertices, faces = stage1_surface(field, config, level, decimate=not fine_iterations)
        if fine_iterations:
            texture_teacher = teacher if config.teacher == "synthetic" else self.load_teacher("stable_diffusion", context.device, config.memory)
            teachers = Teachers(geometry=shading_teacher or teacher, texture=texture_teacher)
            geometry, fine_facts = train_fine(field, (vertices, faces), level, teachers, condition, reference, config, reporter, context.work_dir, inputs.seed)
            facts.update(fine_facts)
            with torch.no_grad():
                positions, triangles = geometry.mesh()
            vertices, faces = positions.cpu().numpy(), triangles.cpu().numpy()
        reporter.progress("export", 0, 1, "unwrapping and texturing the surface")
        asset = export_mesh(vertices, faces, field, config, frame)
        reporter.progress("export", 1, 1, f"{len(asset.faces)} faces")
        result = JobResult(metadata={**facts, "teacher": config.teacher, "elevation": elevation, "faces": len(asset.faces), "frame": "object" if frame is not None else "reconstruction"})
        result.add_mesh(asset)
        result.files[TURNTABLE_ITEM] = ResultFile(turntable_png(asset), "image/png")
        return result
