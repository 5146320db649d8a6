"""Result arrays → a Blender mesh object, with ``foreach_set`` only (no Python loop over vertices).

The arrays are the wire's (see ``backend/core/glb.py``): float32 positions/normals/uvs in the
glTF frame (+Y up), int32 faces, a uint8 texture (row 0 on top) or uint8 RGBA vertex colours.
Blender is +Z up; a point (x, y, z) becomes (x, −z, y), the inverse of what Blender's glTF
exporter does.
"""

from __future__ import annotations

from typing import Mapping

import bpy
import numpy as np

COLLECTION = "Distill3D"
"""Collection every imported object is linked into."""


def to_blender(vectors: np.ndarray) -> np.ndarray:
    """glTF-frame vectors (N, 3) → Blender's frame (N, 3), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.stack([vectors[:, 0], -vectors[:, 2], vectors[:, 1]], axis=1)


def build_mesh(name: str, arrays: Mapping[str, np.ndarray]) -> bpy.types.Mesh:
    """A new mesh datablock from result arrays (see :func:`fill_mesh`)."""
    check_arrays(arrays)
    return fill_mesh(bpy.data.meshes.new(name), arrays)


def check_arrays(arrays: Mapping[str, np.ndarray]) -> None:
    """Raise ``ValueError`` unless ``arrays`` hold a consistent triangle mesh."""
    if "positions" not in arrays or "faces" not in arrays:
        raise ValueError(f"a mesh needs 'positions' and 'faces' arrays; got {sorted(arrays)}")
    positions, faces = np.asarray(arrays["positions"]), np.asarray(arrays["faces"])
    if positions.ndim != 2 or positions.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"expected positions (V, 3) and faces (F, 3), got {positions.shape} and {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(positions)):
        raise ValueError("faces index vertices that do not exist")
    for name, width in (("normals", 3), ("uvs", 2), ("colors", 4)):
        if name in arrays and np.shape(arrays[name]) != (len(positions), width):
            raise ValueError(f"{name} has shape {np.shape(arrays[name])}, expected ({len(positions)}, {width})")


def fill_mesh(mesh: bpy.types.Mesh, arrays: Mapping[str, np.ndarray]) -> bpy.types.Mesh:
    """Replace ``mesh``'s geometry, in place, with the arrays': smooth custom normals, a ``UVMap`` layer and/or ``Color`` attribute.

    Objects using ``mesh`` keep it (the interpolation preview is updated this way). Call :func:`check_arrays` first.
    """
    positions, faces = arrays["positions"], np.asarray(arrays["faces"], dtype=np.int32)
    mesh.clear_geometry()
    mesh.vertices.add(len(positions))
    mesh.vertices.foreach_set("co", to_blender(positions).ravel())
    mesh.loops.add(faces.size)
    mesh.loops.foreach_set("vertex_index", faces.ravel())
    mesh.polygons.add(len(faces))
    mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    mesh.shade_smooth()
    if "uvs" in arrays:
        layer = mesh.uv_layers.new(name="UVMap")
        layer.data.foreach_set("uv", np.asarray(arrays["uvs"], dtype=np.float32)[faces.ravel()].ravel())
    if "colors" in arrays:
        attribute = mesh.color_attributes.new("Color", "BYTE_COLOR", "POINT")
        attribute.data.foreach_set("color", (np.asarray(arrays["colors"], dtype=np.float32) / 255.0).ravel())
    mesh.update()
    if "normals" in arrays:
        set_vertex_normals(mesh, to_blender(arrays["normals"]))
    return mesh


FREE_NORMALS = (5, 0, 0)
"""First Blender (tested) that takes custom normals as a plain float ``custom_normal`` point attribute."""


def set_vertex_normals(mesh: bpy.types.Mesh, normals: np.ndarray) -> None:
    """Custom per-vertex normals (V, 3): keeps shading continuous across UV seams, where vertices are split.

    Blender ≥ 5.0 stores them directly as a float attribute (≈ 10× faster than the encoded
    per-corner path older versions need).
    """
    if bpy.app.version >= FREE_NORMALS:
        mesh.attributes.new("custom_normal", "FLOAT_VECTOR", "POINT").data.foreach_set("vector", normals.ravel())
    else:
        mesh.normals_split_custom_set_from_vertices(normals)


def texture_image(name: str, texture: np.ndarray) -> bpy.types.Image:
    """A packed image datablock (stored in the .blend) from an (S, S, 3) uint8 texture, row 0 on top."""
    height, width = texture.shape[:2]
    image = bpy.data.images.new(name, width=width, height=height, alpha=False)
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[..., :3] = texture[::-1] / 255.0  # Blender's pixel rows run bottom to top
    image.pixels.foreach_set(rgba.ravel())
    image.pack()
    return image


def material(name: str, image: bpy.types.Image | None, vertex_colors: bool) -> bpy.types.Material:
    """A Principled-BSDF material (roughness 1, metallic 0) coloured by ``image``, or by the ``Color`` attribute."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    shader = next(node for node in nodes if node.type == "BSDF_PRINCIPLED")
    shader.inputs["Roughness"].default_value = 1.0
    shader.inputs["Metallic"].default_value = 0.0
    if image is not None:
        texture = nodes.new("ShaderNodeTexImage")
        texture.image = image
        links.new(texture.outputs["Color"], shader.inputs["Base Color"])
    elif vertex_colors:
        attribute = nodes.new("ShaderNodeAttribute")
        attribute.attribute_name = "Color"
        links.new(attribute.outputs["Color"], shader.inputs["Base Color"])
    return mat


def import_arrays(name: str, arrays: Mapping[str, np.ndarray], properties: Mapping[str, object] | None = None) -> bpy.types.Object:
    """A new object at the 3D cursor in the ``Distill3D`` collection, with its material and ``properties`` as custom properties."""
    mesh = build_mesh(name, arrays)
    return place(bpy.data.objects.new(name, with_material(mesh, name, arrays)), properties)


def with_material(mesh: bpy.types.Mesh, name: str, arrays: Mapping[str, np.ndarray]) -> bpy.types.Mesh:
    """``mesh`` with a new material for the arrays' texture or vertex colours."""
    image = texture_image(name, np.asarray(arrays["texture"], dtype=np.uint8)) if "texture" in arrays else None
    mesh.materials.append(material(name, image, "colors" in arrays))
    return mesh


def collection() -> bpy.types.Collection:
    """The ``Distill3D`` collection of the current scene (created on first use)."""
    found = bpy.data.collections.get(COLLECTION)
    if found is None:
        found = bpy.data.collections.new(COLLECTION)
    if found.name not in bpy.context.scene.collection.children:
        bpy.context.scene.collection.children.link(found)
    return found


def place(obj: bpy.types.Object, properties: Mapping[str, object] | None = None) -> bpy.types.Object:
    """Link ``obj`` into the ``Distill3D`` collection at the 3D cursor and set its custom ``properties``."""
    collection().objects.link(obj)
    obj.location = bpy.context.scene.cursor.location
    for key, value in (properties or {}).items():
        obj[key] = id_property(value)
    return obj


INT32 = (-(2**31), 2**31 - 1)
"""Range of Blender's integer ID properties."""


def id_property(value: object) -> object:
    """``value`` as Blender can store it: integers beyond 32 bits (e.g. seeds up to 2³² − 1) become text."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT32[0] <= value <= INT32[1]:
        return str(value)
    return value
