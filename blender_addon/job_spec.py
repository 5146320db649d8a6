"""The Generate panel's settings → a ``JobSpec``: parameters, input image, camera. Raises ``ValueError`` with a readable reason."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import bpy

from .apply import areas
from .wire import buffers, cameras, messages

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
"""Files the backend decodes as they are; anything else is re-encoded as PNG."""
OFF_TARGET_WARN_DEG = 10.0
"""A scene camera looking further than this away from the origin gets a warning: methods assume a look-at camera."""


def parse_value(text: str, kind: str, name: str) -> Any:
    """A parameter's text as the wire value of its type (``str`` stays text; the rest is JSON)."""
    if kind == "str":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"parameter {name}: {text!r} is not a valid {kind} (write it as JSON, e.g. 3, 0.5, true or [1, 2])") from None


def parameters(settings: Any) -> dict[str, Any]:
    """Edited parameters (those differing from their default) plus ``extra_params``, which wins."""
    params = {p.name: parse_value(p.value, p.kind, p.name) for p in settings.params if p.value != p.default}
    try:
        extra = json.loads(settings.extra_params or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"extra parameters are not valid JSON: {exc}") from None
    if not isinstance(extra, dict):
        raise ValueError('extra parameters must be a JSON object, e.g. {"teacher": "synthetic"}')
    params.update(extra)
    return params


def image_bytes(image: bpy.types.Image) -> tuple[bytes, str]:
    """``(encoded file, name)`` of an image datablock: its packed or on-disk file when the backend reads that format, else a PNG."""
    name = image.name
    if image.packed_file is not None and Path(image.filepath or name).suffix.lower() in IMAGE_SUFFIXES:
        return bytes(image.packed_file.data), name
    path = Path(bpy.path.abspath(image.filepath)) if image.filepath else None
    if image.source == "FILE" and path is not None and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not image.is_dirty:
        return path.read_bytes(), path.name
    if not image.has_data and image.size[0] == 0:
        raise ValueError(f"image {name!r} has no pixels")
    handle, temp = tempfile.mkstemp(suffix=".png", prefix="distill3d-input-")
    os.close(handle)
    try:
        image.save(filepath=temp)  # writes a copy; the datablock keeps its own path
        return Path(temp).read_bytes(), f"{Path(name).stem}.png"
    finally:
        os.unlink(temp)


def input_image(settings: Any, context: bpy.types.Context) -> tuple[bytes, str] | None:
    source = settings.image_source
    if source == "NONE":
        return None
    if source == "FILE":
        path = Path(bpy.path.abspath(settings.image_file)) if settings.image_file else None
        if path is None or not path.is_file():
            raise ValueError(f"input image file {settings.image_file!r} does not exist")
        return path.read_bytes(), path.name
    if source == "EDITOR":
        for area in areas(context.window_manager, "IMAGE_EDITOR"):
            if area.spaces.active.image is not None:
                return image_bytes(area.spaces.active.image)
        raise ValueError("no Image Editor with an image is open")
    return image_bytes(settings.image) if settings.image is not None else None


def camera(settings: Any, scene: bpy.types.Scene) -> tuple[Any | None, str]:
    """``(wire camera or None, warning)``."""
    if settings.camera_source == "MANUAL":
        return messages.Camera(elevation_deg=settings.elevation, azimuth_deg=settings.azimuth, distance=settings.distance, fov_deg=settings.fov), ""
    if settings.camera_source != "SCENE":
        return None, ""
    obj = scene.camera
    if obj is None or obj.type != "CAMERA":
        raise ValueError("the scene has no active camera")
    render = scene.render
    scale = render.resolution_percentage / 100.0
    blender = cameras.BlenderCamera(
        matrix_world=tuple(tuple(row) for row in obj.matrix_world),
        lens_mm=obj.data.lens,
        sensor_width_mm=obj.data.sensor_width,
        sensor_height_mm=obj.data.sensor_height,
        sensor_fit=obj.data.sensor_fit,
        resolution=(max(1, round(render.resolution_x * scale)), max(1, round(render.resolution_y * scale))),
    )
    wire, _, off_target = cameras.camera_from_blender(blender)
    warning = f"the camera looks {off_target:.0f}° away from the origin; methods assume it looks at the object" if off_target > OFF_TARGET_WARN_DEG else ""
    return wire, warning


def prompt_only(info: Any) -> bool:
    """Whether a method (its ``MethodInfo``, or None when unknown) takes a prompt and no image, as PRD: the Generate panel
    hides the image and camera, and jobs carry neither."""
    return info is not None and info.needs_prompt and not info.needs_image


def generate_spec(settings: Any, context: bpy.types.Context, info: Any = None) -> tuple[Any, str]:
    """``(JobSpec, warning)`` for the Generate button (``info``: the method's ``MethodInfo``, when the backend listed it)."""
    if not settings.method:
        raise ValueError("choose a method first")
    if prompt_only(info):
        if not settings.prompt.strip():
            raise ValueError(f"{settings.method} makes a mesh from a prompt: type one")
        image, (wire_camera, warning) = None, (None, "")
    else:
        image = input_image(settings, context)
        wire_camera, warning = camera(settings, context.scene)
    spec = messages.JobSpec(
        method=settings.method,
        preset=settings.preset or None,
        params=parameters(settings),
        prompt=settings.prompt,
        negative_prompt=settings.negative_prompt,
        seed=None if settings.random_seed else settings.seed,
        camera=wire_camera,
        image=messages.ImageInput(data=buffers.Blob(image[0]), name=image[1][:256]) if image is not None else None,
    )
    return spec, warning


def variants_spec(settings: Any) -> Any:
    """Variants of the chosen generator; the prompt goes along (a prompt-conditioned generator such as PRD's samples under
    it, the others ignore it)."""
    return messages.JobSpec(
        method="variants",
        params={"generator": settings.generator, "count": settings.variant_count, "truncation": settings.truncation, "quality": settings.variant_quality},
        prompt=settings.prompt,
        seed=None if settings.random_seed else settings.seed,
    )


def keep_spec(settings: Any, latent_a: Any, latent_b: Any, generator: str, conditions: Any = None) -> Any:
    """The full-quality mesh at the slider's t (``conditions``: the ends' prompt embeddings, for a conditioned generator)."""
    from .session import interpolation_arrays

    return messages.JobSpec(
        method="interpolate",
        params={"generator": generator, "t": settings.interp_t, "quality": "full"},
        arrays=interpolation_arrays(latent_a, latent_b, conditions),
    )



