"""The 3D Viewport sidebar tab "Distill3D": connection, Generate (with live progress and preview), Models & Memory (what a run
needs: models with size and licence, their download, recorded memory and time), Variants, Interpolation."""

from __future__ import annotations

from typing import Any

import bpy

from . import apply, job_spec, runtime
from .wire import sizes

STATE_ICONS = {"connected": "CHECKMARK", "connecting": "SORTTIME", "starting": "SORTTIME", "offline": "ERROR"}


class _Tab:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Distill3D"


class DISTILL3D_MT_methods(bpy.types.Menu):
    bl_label = "Method"

    def draw(self, context: bpy.types.Context) -> None:
        session = runtime.session()
        methods = session.methods("generate") if session is not None else ()
        if not methods:
            self.layout.label(text="Connect to list the backend's methods")
        for method in methods:
            self.layout.operator("distill3d.set_method", text=method.name).name = method.name


class DISTILL3D_MT_presets(bpy.types.Menu):
    bl_label = "Preset"

    def draw(self, context: bpy.types.Context) -> None:
        session = runtime.session()
        info = session.method(context.scene.distill3d.method) if session is not None else None
        for preset in info.presets if info is not None else ():
            self.layout.operator("distill3d.set_preset", text=preset).name = preset


class DISTILL3D_PT_main(_Tab, bpy.types.Panel):
    bl_label = "Distill3D"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        state, reason = runtime.connection_state()
        row = layout.row()
        row.label(text=state.capitalize(), icon=STATE_ICONS.get(state, "QUESTION"))
        if state == "offline":
            row.operator("distill3d.connect", text="Connect")
        else:
            row.operator("distill3d.disconnect", text="", icon="CANCEL")
        if reason:
            _wrapped(layout, reason)
        message = context.scene.distill3d.message
        if message:
            _wrapped(layout.box(), message, icon="INFO")


class DISTILL3D_PT_generate(_Tab, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "DISTILL3D_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.layout, context.scene.distill3d
        layout.menu("DISTILL3D_MT_methods", text=settings.method or "Choose a method")
        layout.menu("DISTILL3D_MT_presets", text=settings.preset or "Default preset")
        session = runtime.session()
        info = session.method(settings.method) if session is not None and settings.method else None
        if not job_spec.prompt_only(info):  # prompt-only methods (PRD) take no image or camera
            layout.prop(settings, "image_source")
            if settings.image_source == "DATABLOCK":
                layout.template_ID(settings, "image", open="image.open")
            elif settings.image_source == "FILE":
                layout.prop(settings, "image_file")
            layout.prop(settings, "camera_source")
            if settings.camera_source == "MANUAL":
                column = layout.column(align=True)
                for name in ("elevation", "azimuth", "distance", "fov"):
                    column.prop(settings, name)
        layout.prop(settings, "prompt")
        layout.prop(settings, "negative_prompt")
        row = layout.row(align=True)
        row.prop(settings, "random_seed", text="", icon="FILE_REFRESH")
        sub = row.row(align=True)
        sub.enabled = not settings.random_seed
        sub.prop(settings, "seed")
        layout.prop(settings, "show_params", icon="TRIA_DOWN" if settings.show_params else "TRIA_RIGHT", emboss=False)
        if settings.show_params:
            column = layout.column(align=True)
            for param in settings.params:
                column.prop(param, "value", text=param.name)
            layout.prop(settings, "extra_params")
        row = layout.row(align=True)
        row.scale_y = 1.4
        row.operator("distill3d.generate", icon="PLAY")
        row.operator("distill3d.cancel", icon="X").job_id = ""
        self._draw_active_job(layout, context)

    @staticmethod
    def _draw_active_job(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
        settings = context.scene.distill3d
        session = runtime.session()
        job = session.jobs.get(settings.active_job) if session is not None else None
        if job is None or job.info is None:
            return
        info = job.info
        progress = info.progress
        if progress is not None and not info.state.finished:
            eta = f", {progress.eta_s:.0f} s left" if progress.eta_s is not None else ""
            layout.progress(factor=progress.fraction, text=f"{progress.stage} {progress.step}/{progress.total}{eta}")
        else:
            layout.label(text=f"Job {info.job_id}: {info.state.value}")
        image = bpy.data.images.get(apply.PREVIEW_IMAGE)
        if image is not None and image.preview is not None:
            layout.template_icon(icon_value=image.preview.icon_id, scale=8.0)


class DISTILL3D_PT_models(_Tab, bpy.types.Panel):
    """What a run of the chosen method and preset needs before it starts: its models (state, size, licence), the memory
    and time recorded for it, and the backend's model download."""

    bl_label = "Models & Memory"
    bl_parent_id = "DISTILL3D_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.layout, context.scene.distill3d
        session = runtime.session()
        info = session.method(settings.method) if session is not None and settings.method else None
        if info is None:
            layout.label(text="Choose a method to see what it needs")
            return
        preset, needed = session.models_for(info.name, settings.preset)
        self._draw_footprints(layout, info, preset, sum(m.download_bytes for m in needed))
        if not info.models.get(preset):
            layout.label(text=f"{info.name} {preset}: needs no downloaded model", icon="CHECKMARK")
        elif not needed and session.models_error:
            _wrapped(layout, f"The backend cannot list its models: {session.models_error}", icon="ERROR")
        elif not needed:
            layout.label(text="Listing the backend's models…", icon="SORTTIME")
        for model in needed:
            self._draw_model(layout, model)
        missing = [m for m in needed if m.state != "present"]
        if session.pulling():
            self._draw_pull(layout, session.pull)
        elif missing:
            size = sizes.human_size(sum(m.download_bytes for m in missing))
            row = layout.row()
            row.scale_y = 1.3
            row.operator("distill3d.pull_models", text=f"Download {len(missing)} model{'s' * (len(missing) > 1)} (about {size})", icon="IMPORT")
            if any(m.gated for m in missing):
                _wrapped(layout, "Gated: accept the licence on the model's hub page, then set a Hugging Face token in the add-on "
                         "preferences", icon="LOCKED")  # fmt: skip
        pull = session.pull
        if pull is not None and pull.state == "failed" and pull.error is not None:
            _wrapped(layout.box(), f"Download failed: {pull.error.message}", icon="ERROR")

    @staticmethod
    def _draw_footprints(layout: bpy.types.UILayout, info: Any, preset: str, weights: int) -> None:
        """The recorded memory and time of ``preset``; without a GPU row, the floor its models' ``weights`` (bytes) set."""
        recorded = [f for f in info.footprints if f.preset == preset]
        if not recorded:
            layout.label(text=f"Memory and time of {preset}: not measured yet", icon="INFO")
        if weights and not any(f.device == "cuda" for f in recorded):
            layout.label(text=f"GPU memory: at least its models' weights, about {sizes.human_size(weights)}", icon="MEMORY")
        for footprint in recorded:
            where = f"{footprint.device} ({footprint.device_name})" if footprint.device_name else footprint.device
            kind = "GPU memory" if footprint.device == "cuda" else "memory"
            about = "about " if footprint.projected else ""
            layout.label(text=f"{where}: peak {kind} {sizes.human_size(footprint.peak_bytes)}, {about}{footprint.seconds:.0f} s",
                         icon="MEMORY")  # fmt: skip
            if footprint.note:
                _wrapped(layout, f"measured with {footprint.note}")

    @staticmethod
    def _draw_model(layout: bpy.types.UILayout, model: Any) -> None:
        row = layout.row(align=True)
        icon = {"present": "CHECKMARK", "partial": "ERROR"}.get(model.state, "IMPORT")
        size = sizes.human_size(model.bytes_on_disk if model.state == "present" else model.download_bytes)
        kept = f" ({sizes.human_size(model.kept_bytes)} fetched)" if model.kept_bytes and model.state != "present" else ""
        row.label(text=f"{model.role}: {model.state}, {size}{kept}", icon=icon)
        row.operator("wm.url_open", text=model.licence, icon="URL").url = model.licence_url

    @staticmethod
    def _draw_pull(layout: bpy.types.UILayout, pull: Any) -> None:
        fraction = pull.bytes_done / pull.bytes_total if pull.bytes_total else 0.0
        done, total = sizes.human_size(pull.bytes_done), sizes.human_size(pull.bytes_total)
        layout.progress(factor=fraction, text=f"Downloading {done} of {total}" if pull.bytes_total else "Listing the files…")
        if pull.current:
            layout.label(text=pull.current)
        if pull.cancel_requested:
            layout.label(text="Stopping the download…", icon="SORTTIME")
        else:
            layout.operator("distill3d.cancel_pull", text="Stop Download", icon="X")


class DISTILL3D_PT_variants(_Tab, bpy.types.Panel):
    bl_label = "Variants"
    bl_parent_id = "DISTILL3D_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.layout, context.scene.distill3d
        layout.prop(settings, "generator")
        layout.prop(settings, "prompt", text="Prompt (PRD)")
        layout.prop(settings, "variant_count")
        layout.prop(settings, "truncation")
        layout.prop(settings, "variant_quality")
        layout.operator("distill3d.sample_variants", icon="GRID")


class DISTILL3D_PT_interpolation(_Tab, bpy.types.Panel):
    bl_label = "Interpolation"
    bl_parent_id = "DISTILL3D_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout, settings = self.layout, context.scene.distill3d
        layout.operator("distill3d.interpolate_from_selection", icon="RESTRICT_SELECT_OFF")
        layout.prop(settings, "interp_a")
        layout.prop(settings, "interp_b")
        layout.prop(settings, "interp_t", slider=True)
        layout.operator("distill3d.interpolate_keep", icon="IMPORT")


def _wrapped(layout: bpy.types.UILayout, text: str, icon: str = "NONE", width: int = 48) -> None:
    """Long text over several label lines (the sidebar does not wrap)."""
    words, line, column = text.split(), "", layout.column(align=True)
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            column.label(text=line, icon=icon)
            line, icon = word, "NONE"
        else:
            line = f"{line} {word}".strip()
    if line:
        column.label(text=line, icon=icon)


classes = (
    DISTILL3D_MT_methods,
    DISTILL3D_MT_presets,
    DISTILL3D_PT_main,
    DISTILL3D_PT_generate,
    DISTILL3D_PT_models,
    DISTILL3D_PT_variants,
    DISTILL3D_PT_interpolation,
)
