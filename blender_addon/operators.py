"""Operators: the buttons, and the add-on's scripting/test surface (``bpy.ops.distill3d.*``).

None of them blocks: they send a request and return; :func:`runtime.pump` applies the answer.
Problems are reported (and kept in ``Scene.distill3d.message``), never raised.
"""

from __future__ import annotations

import json
from typing import Any

import bpy

from . import apply, job_spec, runtime


def _fail(operator: bpy.types.Operator, context: bpy.types.Context, message: str) -> set[str]:
    context.scene.distill3d.message = message
    operator.report({"WARNING"}, message)  # an ERROR report would raise in scripts; the panel shows the message
    return {"CANCELLED"}


def _submit(operator: bpy.types.Operator, context: bpy.types.Context, spec, purpose: str, **job_context) -> set[str]:
    try:
        runtime.submit(context.scene, spec, purpose, **job_context)
    except RuntimeError as exc:
        return _fail(operator, context, str(exc))
    context.scene.distill3d.message = ""
    return {"FINISHED"}


class DISTILL3D_OT_connect(bpy.types.Operator):
    """Connect to the backend named in the add-on preferences (starting a local one if they say so)"""

    bl_idname = "distill3d.connect"
    bl_label = "Connect"

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime.connect()
        state, reason = runtime.connection_state()
        if state == "offline":
            self.report({"WARNING"}, f"Distill3D offline: {reason}")
        return {"FINISHED"}


class DISTILL3D_OT_disconnect(bpy.types.Operator):
    """Close the connection (and stop a backend this Blender started); jobs go on running on the backend"""

    bl_idname = "distill3d.disconnect"
    bl_label = "Disconnect"

    def execute(self, context: bpy.types.Context) -> set[str]:
        runtime.disconnect()
        return {"FINISHED"}


class DISTILL3D_OT_set_method(bpy.types.Operator):
    """Use this method, and list its parameters"""

    bl_idname = "distill3d.set_method"
    bl_label = "Set Method"
    bl_options = {"INTERNAL"}

    name: bpy.props.StringProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.distill3d
        settings.method, settings.preset = self.name, ""
        settings.params.clear()
        session = runtime.session()
        info = session.method(self.name) if session is not None else None
        for param in info.params if info is not None else ():
            item = settings.params.add()
            default = param.default if param.type == "str" else json.dumps(param.default)
            item.name, item.kind, item.default, item.value, item.doc = param.name, param.type, str(default), str(default), param.doc[:1000]
        return {"FINISHED"}


class DISTILL3D_OT_set_preset(bpy.types.Operator):
    """Use this preset of the method"""

    bl_idname = "distill3d.set_preset"
    bl_label = "Set Preset"
    bl_options = {"INTERNAL"}

    name: bpy.props.StringProperty()

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.scene.distill3d.preset = self.name
        return {"FINISHED"}


class DISTILL3D_OT_generate(bpy.types.Operator):
    """Send the settings to the backend; progress and the preview stream into the panel, the mesh is imported when done"""

    bl_idname = "distill3d.generate"
    bl_label = "Generate"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.distill3d
        try:
            session = runtime.session()
            info = session.method(settings.method) if session is not None else None
            spec, warning = job_spec.generate_spec(settings, context, info)
        except ValueError as exc:
            return _fail(self, context, f"cannot generate: {exc}")
        if warning:
            self.report({"WARNING"}, warning)
        return _submit(self, context, spec, "generate", params=dict(spec.params))


class DISTILL3D_OT_cancel(bpy.types.Operator):
    """Cancel the running job (the backend stops it at its next step)"""

    bl_idname = "distill3d.cancel"
    bl_label = "Cancel"

    job_id: bpy.props.StringProperty(name="Job id", description="Empty: the panel's active job")

    def execute(self, context: bpy.types.Context) -> set[str]:
        job_id = self.job_id or context.scene.distill3d.active_job
        if not job_id:
            return _fail(self, context, "no job to cancel")
        session = _connected_session(self, context, "cancel")
        if session is None:
            return {"CANCELLED"}
        session.cancel(job_id)
        return {"FINISHED"}


def _connected_session(operator: bpy.types.Operator, context: bpy.types.Context, doing: str) -> Any:
    """The connected session, or None after reporting why ``doing`` cannot be done."""
    session = runtime.session()
    if session is None or not session.connected:
        _fail(operator, context, f"cannot {doing}: {runtime.connection_state()[1]}")
        return None
    return session


class DISTILL3D_OT_pull_models(bpy.types.Operator):
    """Have the backend download the models the chosen method and preset need (their licences are shown in the panel); the
    download runs on the backend's machine and goes on if Blender closes"""

    bl_idname = "distill3d.pull_models"
    bl_label = "Download Models"

    roles: bpy.props.StringProperty(name="Models", description="Comma-separated model roles; empty: those the panel's method and preset lack")

    def execute(self, context: bpy.types.Context) -> set[str]:
        session = _connected_session(self, context, "download models")
        if session is None:
            return {"CANCELLED"}
        settings = context.scene.distill3d
        roles = tuple(r.strip() for r in self.roles.split(",") if r.strip())
        if not roles:
            _, needed = session.models_for(settings.method, settings.preset)
            roles = tuple(m.role for m in needed if m.state != "present")
        if not roles:
            return _fail(self, context, "no model to download: the chosen method and preset have every model they need")
        session.pull_models(roles, runtime.preferences().hf_token.strip())
        settings.message = ""
        return {"FINISHED"}


class DISTILL3D_OT_cancel_pull(bpy.types.Operator):
    """Stop the backend's model download (what was downloaded is kept: downloading again continues from there)"""

    bl_idname = "distill3d.cancel_pull"
    bl_label = "Stop Download"

    def execute(self, context: bpy.types.Context) -> set[str]:
        session = _connected_session(self, context, "stop the download")
        if session is None:
            return {"CANCELLED"}
        session.cancel_pull()
        return {"FINISHED"}


class DISTILL3D_OT_sample_variants(bpy.types.Operator):
    """Ask the generator for N variants and import them in a grid at the 3D cursor"""

    bl_idname = "distill3d.sample_variants"
    bl_label = "Sample Variants"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            spec = job_spec.variants_spec(context.scene.distill3d)
        except ValueError as exc:
            return _fail(self, context, f"cannot sample variants: {exc}")
        return _submit(self, context, spec, "variants", params=dict(spec.params))


class DISTILL3D_OT_interpolate_from_selection(bpy.types.Operator):
    """Use the two selected variants as the ends of the interpolation"""

    bl_idname = "distill3d.interpolate_from_selection"
    bl_label = "Use Selected Variants"

    def execute(self, context: bpy.types.Context) -> set[str]:
        variants = [obj for obj in context.selected_objects if apply.latent_of(obj) is not None]
        if len(variants) != 2:
            return _fail(self, context, f"select exactly two variants (objects with a Distill3D latent); {len(variants)} selected")
        settings = context.scene.distill3d
        settings.interp_a, settings.interp_b = variants
        return {"FINISHED"}


class DISTILL3D_OT_interpolate_keep(bpy.types.Operator):
    """Import a full-quality mesh at the slider's t"""

    bl_idname = "distill3d.interpolate_keep"
    bl_label = "Keep"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.distill3d
        a, b = apply.latent_of(settings.interp_a), apply.latent_of(settings.interp_b)
        if a is None or b is None:
            return _fail(self, context, "pick two variants (From and To) first")
        generator = settings.interp_a.get("distill3d_generator", settings.generator)
        try:
            spec = job_spec.keep_spec(settings, a, b, generator, apply.conditions_of(settings.interp_a, settings.interp_b))
        except ValueError as exc:
            return _fail(self, context, f"cannot keep: {exc}")
        name = f"Interpolation t={settings.interp_t:.2f}"
        return _submit(self, context, spec, "keep", name=name, params={"t": settings.interp_t, "generator": generator})


classes = (
    DISTILL3D_OT_connect,
    DISTILL3D_OT_disconnect,
    DISTILL3D_OT_set_method,
    DISTILL3D_OT_set_preset,
    DISTILL3D_OT_generate,
    DISTILL3D_OT_cancel,
    DISTILL3D_OT_pull_models,
    DISTILL3D_OT_cancel_pull,
    DISTILL3D_OT_sample_variants,
    DISTILL3D_OT_interpolate_from_selection,
    DISTILL3D_OT_interpolate_keep,
)
