"""Backend outcomes → Blender data: job list, live preview image, imported meshes, variant grids, the interpolation preview.

Called only from :func:`runtime.pump` on the main thread.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any, Iterator, Mapping

import bpy
import numpy as np

from . import importer
from .session import Outcome, TrackedJob

PREVIEW_IMAGE = "Distill3D Preview"
"""The one image datablock the streamed progress renders are shown in (updated in place)."""
INTERPOLATION_OBJECT = "Distill3D Interpolation"
"""The object whose mesh follows the interpolation slider."""
GRID_MARGIN = 1.25
"""Variant grid spacing as a multiple of the largest variant's extent."""


def apply(outcome: Outcome) -> None:
    handler = _HANDLERS[outcome.kind]
    handler(outcome)
    _redraw()


def _scene(job: TrackedJob | None) -> bpy.types.Scene:
    name = job.context.get("scene") if job is not None else None
    return bpy.data.scenes.get(name) if name is not None and name in bpy.data.scenes else bpy.context.scene


def job_entry(job: TrackedJob) -> Any | None:
    """The job's record in its scene's job list (created for recorded purposes; interpolation previews are not kept)."""
    if job.purpose == "interpolate":
        return None
    jobs = _scene(job).distill3d.jobs
    for entry in jobs:
        if entry.job_id == job.job_id:
            return entry
    entry = jobs.add()
    entry.job_id, entry.purpose = job.job_id, job.purpose
    entry.method = job.info.method if job.info is not None else ""
    entry.context_json = json.dumps({k: v for k, v in job.context.items() if k != "scene"})
    if job.purpose == "generate":
        _scene(job).distill3d.active_job = job.job_id
    return entry


def _on_status(outcome: Outcome) -> None:
    pass  # the panel reads the state (connection, models, pull) from the session itself; the redraw is enough


def _on_job(outcome: Outcome) -> None:
    entry, info = job_entry(outcome.job), outcome.job.info
    if entry is None or info is None:
        return
    entry.state = info.state.value
    progress = info.progress
    if progress is not None:
        entry.message = progress.message or f"{progress.stage} {progress.step}/{progress.total}"


def _on_failed(outcome: Outcome) -> None:
    job = outcome.job
    entry = job_entry(job)
    state = job.info.state.value if job.info is not None and job.info.state.finished else "failed"
    if entry is not None:
        entry.state, entry.message = state, outcome.message
    _scene(job).distill3d.message = f"{job.purpose} job {job.job_id} {state}: {outcome.message}"


def _on_error(outcome: Outcome) -> None:
    _scene(outcome.job).distill3d.message = outcome.message


def _on_preview(outcome: Outcome) -> None:
    show_preview(outcome.preview, outcome.media_type)


def show_preview(data: bytes, media_type: str) -> bpy.types.Image:
    """Load an encoded PNG/JPEG into the preview image datablock (same datablock every time) and show it in open Image Editors."""
    suffix = ".png" if media_type == "image/png" else ".jpg"
    path = os.path.join(tempfile.gettempdir(), f"distill3d-preview-{os.getpid()}{suffix}")
    with open(path, "wb") as f:
        f.write(data)
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is None:
        image = bpy.data.images.load(path)
        image.name = PREVIEW_IMAGE
    else:
        image.filepath = path
        image.reload()
    image.preview_ensure()
    image.preview.reload()
    for area in areas(bpy.context.window_manager, "IMAGE_EDITOR"):
        space = area.spaces.active
        if space.image is None or space.image == image:
            space.image = image
    return image


def _on_result(outcome: Outcome) -> None:
    job = outcome.job
    entry = job_entry(job)
    note = ""
    try:
        if job.purpose == "variants":
            note = empty_variants_note(job)
            import_variants(job, outcome)
        elif job.purpose == "interpolate":
            update_interpolation_preview(outcome, float(job.context.get("t", 0.0)))
        else:
            import_result(job, outcome)
    except (ValueError, RuntimeError) as exc:
        _scene(job).distill3d.message = f"could not import job {job.job_id}: {exc}"
        if entry is not None:
            entry.state, entry.message = "failed", str(exc)
        return
    if note:
        _scene(job).distill3d.message = note
    if entry is not None:
        entry.state, entry.imported, entry.message = "imported", True, note


def empty_variants_note(job: TrackedJob) -> str:
    """'2 of 8 seeds gave no mesh (11, 13)…' for a variants result with surface-less seeds, else ''."""
    metadata = job.info.result.metadata if job.info is not None and job.info.result is not None else {}
    empty = [entry.get("seed") for entry in metadata.get("empty", [])]
    if not empty:
        return ""
    total = len(empty) + len(metadata.get("variants", []))
    return f"{len(empty)} of {total} seeds gave no mesh ({', '.join(map(str, empty))}): the generator needs more training"


def _properties(job: TrackedJob, **extra: Any) -> dict[str, Any]:
    info = job.info
    props: dict[str, Any] = {"distill3d_job": job.job_id}
    if info is not None:
        props.update(distill3d_method=info.method, distill3d_preset=info.preset, distill3d_seed=info.seed, distill3d_prompt=info.prompt)
        if info.result is not None:
            props["distill3d_metadata"] = json.dumps(info.result.metadata)
    props["distill3d_params"] = json.dumps(job.context.get("params", {}))
    props.update(extra)
    return props


def import_result(job: TrackedJob, outcome: Outcome, prefix: str = "", name: str = "", **extra: Any) -> bpy.types.Object:
    """One mesh of a result (items under ``prefix``) as a new object; the result's GLB through Blender's glTF importer when it has no mesh arrays."""
    name = name or job.context.get("name") or f"Distill3D {job.info.method if job.info else ''} {job.job_id[-6:]}".strip()
    if prefix + "latent" in outcome.arrays:
        extra.setdefault("distill3d_latent", np.asarray(outcome.arrays[prefix + "latent"], np.float32).reshape(-1).tolist())
    if prefix + "condition" in outcome.arrays:  # a prompt-conditioned generator's latent also needs its prompt embedding
        condition = np.asarray(outcome.arrays[prefix + "condition"], np.float32)
        extra.setdefault("distill3d_condition", condition.reshape(-1).tolist())
        extra.setdefault("distill3d_condition_shape", list(condition.shape))
    metadata = job.info.result.metadata if job.info is not None and job.info.result is not None else {}
    if isinstance(metadata.get("generator"), str) and prefix + "latent" in outcome.arrays:
        extra.setdefault("distill3d_generator", metadata["generator"])
    if prefix in outcome.meshes:
        return importer.import_mesh(name, outcome.meshes[prefix], _properties(job, **extra))
    glb = next((data for key, data in outcome.files.items() if key.startswith(prefix) and key.endswith(".glb")), None)
    if glb is None:
        raise ValueError(f"the result has neither mesh arrays nor a GLB (items: {sorted([*outcome.arrays, *outcome.files])})")
    return import_glb(name, glb, _properties(job, **extra))


def import_glb(name: str, data: bytes, properties: Mapping[str, Any]) -> bpy.types.Object:
    """The fallback: a GLB through ``bpy.ops.import_scene.gltf``, then placed like an array import."""
    handle, path = tempfile.mkstemp(suffix=".glb", prefix="distill3d-")
    with os.fdopen(handle, "wb") as f:
        f.write(data)
    try:
        before = set(bpy.data.objects)
        result = bpy.ops.import_scene.gltf(filepath=path)
        if "FINISHED" not in result:
            raise RuntimeError(f"Blender's glTF importer refused the result ({result})")
    finally:
        os.unlink(path)
    meshes = [obj for obj in bpy.data.objects if obj not in before and obj.type == "MESH"]
    if not meshes:
        raise RuntimeError("the GLB held no mesh")
    obj = meshes[0]
    for other in obj.users_collection:
        other.objects.unlink(obj)
    obj.name = name
    return importer.place(obj, properties)


def variant_count(arrays: Mapping[str, np.ndarray]) -> int:
    """Number of variants in a ``variants`` result (items ``v<i>.…``)."""
    indices = {int(k[1:].split(".", 1)[0]) for k in arrays if k.startswith("v") and k[1:].split(".", 1)[0].isdigit()}
    return max(indices) + 1 if indices else 0


def import_variants(job: TrackedJob, outcome: Outcome) -> list[bpy.types.Object]:
    """Every variant as its own object, in a grid starting at the 3D cursor, named by seed and tagged with its latent."""
    metadata = job.info.result.metadata if job.info is not None and job.info.result is not None else {}
    described = metadata.get("variants", [])
    arrays = outcome.arrays
    count = variant_count(arrays)
    extents = [np.ptp(arrays[f"v{i}.positions"], axis=0).max() for i in range(count) if f"v{i}.positions" in arrays]
    spacing = GRID_MARGIN * max(extents, default=1.0)
    columns = max(1, math.ceil(math.sqrt(count)))
    origin = bpy.context.scene.cursor.location.copy()
    objects = []
    for index in range(count):
        seed = described[index]["seed"] if index < len(described) else index
        obj = import_result(
            job, outcome, prefix=f"v{index}.", name=f"Variant {index} (seed {seed})",
            distill3d_seed=seed, distill3d_generator=metadata.get("generator", ""), distill3d_variant=index,
        )
        row, column = divmod(index, columns)
        obj.location = (origin.x + column * spacing, origin.y - row * spacing, origin.z)
        objects.append(obj)
    return objects


def latent_of(obj: bpy.types.Object | None) -> np.ndarray | None:
    """The latent a variant object carries, or None."""
    if obj is None or "distill3d_latent" not in obj:
        return None
    return np.asarray(list(obj["distill3d_latent"]), np.float32)


def condition_of(obj: bpy.types.Object | None) -> np.ndarray | None:
    """The prompt embedding a conditioned generator's object carries (its shape restored), or None."""
    if obj is None or "distill3d_condition" not in obj:
        return None
    values = np.asarray(list(obj["distill3d_condition"]), np.float32)
    shape = tuple(int(n) for n in obj.get("distill3d_condition_shape", [values.size]))
    return values.reshape(shape)


def conditions_of(a: bpy.types.Object | None, b: bpy.types.Object | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Both ends' conditions when both have one, else None (an unconditional generator)."""
    ca, cb = condition_of(a), condition_of(b)
    return None if ca is None or cb is None else (ca, cb)


def update_interpolation_preview(outcome: Outcome, t: float) -> bpy.types.Object:
    """Replace the interpolation object's mesh data in place (created next to the variants on first use)."""
    if "" not in outcome.meshes:
        raise ValueError(f"the interpolation result holds no mesh (items: {sorted(outcome.arrays)})")
    data, arrays = outcome.meshes[""], outcome.arrays
    obj = bpy.data.objects.get(INTERPOLATION_OBJECT)
    if obj is None:
        mesh = importer.with_material(importer.build_mesh(INTERPOLATION_OBJECT, data), INTERPOLATION_OBJECT, data)
        obj = importer.place(bpy.data.objects.new(INTERPOLATION_OBJECT, mesh))
        settings = bpy.context.scene.distill3d
        if settings.interp_a is not None and settings.interp_b is not None:
            a, b = settings.interp_a.location, settings.interp_b.location
            obj.location = ((a.x + b.x) / 2, min(a.y, b.y) - 1.5, (a.z + b.z) / 2)
    else:
        importer.fill_mesh(obj.data, data)
    if "latent" in arrays:
        obj["distill3d_latent"] = np.asarray(arrays["latent"], np.float32).reshape(-1).tolist()
    obj["distill3d_t"] = t
    return obj


def areas(window_manager: bpy.types.WindowManager, *types: str) -> Iterator[bpy.types.Area]:
    """Every open area of one of ``types`` in every window (none under bpy as a module)."""
    for window in getattr(window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type in types:
                yield area


def _redraw() -> None:
    for area in areas(bpy.context.window_manager, "VIEW_3D", "IMAGE_EDITOR"):
        area.tag_redraw()


_HANDLERS = {
    "status": _on_status,
    "models": _on_status,
    "job": _on_job,
    "preview": _on_preview,
    "result": _on_result,
    "failed": _on_failed,
    "error": _on_error,
}
