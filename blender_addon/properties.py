"""The add-on's settings and job list, stored in the .blend: ``bpy.types.Scene.distill3d``."""

from __future__ import annotations

import bpy

from . import runtime


class Distill3DJob(bpy.types.PropertyGroup):
    """A job submitted from this scene; kept in the .blend so a restarted Blender re-attaches to it."""

    job_id: bpy.props.StringProperty(name="Job id")
    purpose: bpy.props.StringProperty(name="Purpose", description="generate, variants or keep")
    method: bpy.props.StringProperty(name="Method")
    state: bpy.props.StringProperty(name="State", default="submitted")
    message: bpy.props.StringProperty(name="Message", description="Progress line, or why it failed")
    imported: bpy.props.BoolProperty(name="Imported", description="Its result is in the scene")
    context_json: bpy.props.StringProperty(name="Context", description="What the import needs (JSON)")


class Distill3DParam(bpy.types.PropertyGroup):
    """One parameter of the chosen method, as text; sent when it differs from the default."""

    name: bpy.props.StringProperty(name="Name")
    kind: bpy.props.StringProperty(name="Type")
    default: bpy.props.StringProperty(name="Default")
    value: bpy.props.StringProperty(name="Value")
    doc: bpy.props.StringProperty(name="Description")


def _interp_t_changed(self: "Distill3DSettings", context: bpy.types.Context) -> None:
    runtime.request_interpolation(self)


class Distill3DSettings(bpy.types.PropertyGroup):
    method: bpy.props.StringProperty(name="Method", description="Backend method (from its capabilities)")
    preset: bpy.props.StringProperty(name="Preset", description="Named preset of the method; empty for its default")
    prompt: bpy.props.StringProperty(name="Prompt", description="What to make")
    negative_prompt: bpy.props.StringProperty(name="Negative prompt", description="What to avoid")
    seed: bpy.props.IntProperty(name="Seed", description="Random seed", default=0, min=0)
    random_seed: bpy.props.BoolProperty(name="Random seed", description="Let the backend choose (and record) a seed", default=False)
    extra_params: bpy.props.StringProperty(
        name="Extra parameters",
        description='Further method parameters as a JSON object, e.g. {"teacher": "synthetic"}; wins over the fields above',
        default="{}",
    )
    params: bpy.props.CollectionProperty(type=Distill3DParam)
    show_params: bpy.props.BoolProperty(name="Parameters", default=False)

    image_source: bpy.props.EnumProperty(
        name="Image",
        items=(
            ("NONE", "None", "No input image"),
            ("DATABLOCK", "Image", "An image datablock"),
            ("EDITOR", "Image Editor", "The image shown in the open Image Editor"),
            ("FILE", "File", "An image file on disk"),
        ),
        default="DATABLOCK",
    )
    image: bpy.props.PointerProperty(name="Image", type=bpy.types.Image, description="Input image")
    image_file: bpy.props.StringProperty(name="Image file", subtype="FILE_PATH")

    camera_source: bpy.props.EnumProperty(
        name="Camera",
        items=(
            ("NONE", "None", "Send no camera (the method assumes its default view)"),
            ("SCENE", "Scene camera", "The active scene camera, converted to the backend's convention"),
            ("MANUAL", "Manual", "Elevation, azimuth and distance below"),
        ),
        default="NONE",
    )
    elevation: bpy.props.FloatProperty(name="Elevation", default=0.0, min=-90.0, max=90.0)
    azimuth: bpy.props.FloatProperty(name="Azimuth", default=0.0, min=-360.0, max=360.0)
    distance: bpy.props.FloatProperty(name="Distance", default=2.0, min=0.01, max=100.0)
    fov: bpy.props.FloatProperty(name="Field of view", default=49.1, min=1.01, max=178.9)

    generator: bpy.props.StringProperty(
        name="Generator",
        description="A job id (of a finished CAD job), a generator folder, 'demo' (the shipped CAD generator) or 'demo:FAMILY'",
        default="demo",
    )
    variant_count: bpy.props.IntProperty(name="Variants", default=4, min=1, max=64)
    truncation: bpy.props.FloatProperty(name="Truncation", description="1: the whole latent space; smaller: nearer the mean", default=0.7, min=0.0, max=1.0)
    variant_quality: bpy.props.EnumProperty(
        name="Quality", items=(("full", "Full", "Textured"), ("preview", "Preview", "Coarse, vertex colours")), default="full"
    )
    interp_a: bpy.props.PointerProperty(name="From", type=bpy.types.Object, description="A variant (has a latent)")
    interp_b: bpy.props.PointerProperty(name="To", type=bpy.types.Object, description="Another variant of the same generator")
    interp_t: bpy.props.FloatProperty(name="t", default=0.0, min=0.0, max=1.0, update=_interp_t_changed)

    jobs: bpy.props.CollectionProperty(type=Distill3DJob)
    active_job: bpy.props.StringProperty(name="Active job", description="The generate job the panel follows")
    message: bpy.props.StringProperty(name="Message", description="The last error or notice")


classes = (Distill3DJob, Distill3DParam, Distill3DSettings)


def register_properties() -> None:
    bpy.types.Scene.distill3d = bpy.props.PointerProperty(type=Distill3DSettings)


def unregister_properties() -> None:
    del bpy.types.Scene.distill3d
