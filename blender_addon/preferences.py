"""Add-on preferences: where the backend is, and whether Blender starts one itself."""

import bpy

from .wire import connection


class Distill3DPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    connection_file: bpy.props.StringProperty(
        name="Connection file",
        description="The file `distill3d serve` writes (address and key); defaults to the one in its default data directory",
        subtype="FILE_PATH",
        default=str(connection.default_connection_file()),
    )
    address: bpy.props.StringProperty(
        name="Address",
        description="Reach the backend here instead of the connection file's address (e.g. tcp://gpu-box:5757 through a tunnel); the key still comes from the file",
    )
    start_local: bpy.props.BoolProperty(
        name="Start a local backend",
        description="Connect starts `distill3d serve` with the command below (writing the connection file above) and Blender stops it on quit",
        default=False,
    )
    serve_command: bpy.props.StringProperty(
        name="Backend command",
        description="How to run the backend: 'distill3d serve', or '/path/to/python -m backend.cli serve' with the Python that has it installed",
        default="distill3d serve",
    )

    hf_token: bpy.props.StringProperty(
        name="Hugging Face token",
        description="Sent with model downloads the backend runs for you, for gated models (DeepFloyd IF): accept the licence on the "
        "model's hub page first. Empty: the backend's own token. Kept in Blender's user preferences; it leaves this machine in clear "
        "unless the backend runs with --curve",
        subtype="PASSWORD",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "connection_file")
        layout.prop(self, "address")
        layout.prop(self, "hf_token")
        layout.prop(self, "start_local")
        row = layout.row()
        row.enabled = self.start_local
        row.prop(self, "serve_command")
        if not bpy.app.online_access:
            layout.label(text="Blender's online access is off: only backends on this machine (loopback) are used", icon="INFO")


classes = (Distill3DPreferences,)
