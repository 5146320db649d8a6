"""Add-on preferences: where the backend is."""

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

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop(self, "connection_file")


classes = (Distill3DPreferences,)
