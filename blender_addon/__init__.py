"""Distill3D for Blender: generate textured meshes with a Distill3D backend without leaving Blender.

Torch never enters Blender: this package imports only ``bpy``, the vendored ``protocol``
package, numpy, pyzmq and msgpack.
"""

from __future__ import annotations

import bpy

from . import preferences

_modules = (preferences,)


def register() -> None:
    for module in _modules:
        for cls in module.classes:
            bpy.utils.register_class(cls)


def unregister() -> None:
    for module in reversed(_modules):
        for cls in reversed(module.classes):
            bpy.utils.unregister_class(cls)
