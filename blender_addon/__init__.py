"""Distill3D for Blender: generate textured meshes with a Distill3D backend without leaving Blender.

Torch never enters Blender: this package imports only ``bpy``, the vendored ``protocol``
package, numpy, pyzmq and msgpack. Scripts and tests drive it through ``bpy.ops.distill3d.*``,
``bpy.types.Scene.distill3d`` and :func:`pump`.
"""

from __future__ import annotations



def pump(timeout_s: float = 0.0) -> int:
    """Apply pending backend messages on this (main) thread, waiting up to ``timeout_s`` for the first;
    returns how many were applied. Blender's timer calls this; under ``bpy`` as a module, call it yourself."""
    from . import runtime

    return runtime.pump(timeout_s)


def _modules() -> tuple:
    """The modules with ``classes`` to register, in order (imported here: ``session`` and ``wire`` stay importable without bpy)."""
    from . import operators, panels, preferences, properties

    return (preferences, properties, operators, panels)


def register() -> None:
    import bpy

    from . import properties, runtime

    for module in _modules():
        for cls in module.classes:
            bpy.utils.register_class(cls)
    properties.register_properties()
    bpy.app.handlers.load_post.append(runtime.reattach_after_load)
    bpy.app.timers.register(runtime.timer, first_interval=runtime.PUMP_INTERVAL_S, persistent=True)


def unregister() -> None:
    import bpy

    from . import properties, runtime

    if bpy.app.timers.is_registered(runtime.timer):
        bpy.app.timers.unregister(runtime.timer)
    if runtime.reattach_after_load in bpy.app.handlers.load_post:
        bpy.app.handlers.load_post.remove(runtime.reattach_after_load)
    runtime.shutdown()
    properties.unregister_properties()
    for module in reversed(_modules()):
        for cls in reversed(module.classes):
            bpy.utils.unregister_class(cls)
