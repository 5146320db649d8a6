"""A prepared mesh (``mesh_data.BlenderMesh``) → a Blender mesh object: buffer copies only, no loop over vertices.

Runs on the main thread; everything that does not need ``bpy`` (frame change, corner UVs, PNG
encoding, checks) was done before, on the download thread, by :func:`mesh_data.prepare`.
"""

from __future__ import annotations

from typing import Mapping

import bpy
import numpy as np

from .mesh_data import BlenderMesh, prepare

COLLECTION = "Distill3D"
"""Collection every imported object is linked into."""


def build_mesh(name: str, data: BlenderMesh) -> bpy.types.Mesh:
    """A new mesh datablock from a prepared mesh (see :func:`fill_mesh`)."""
    return fill_mesh(bpy.data.meshes.new(name), data)


def fill_mesh(mesh: bpy.types.Mesh, data: BlenderMesh) -> bpy.types.Mesh:
    """Replace ``mesh``'s geometry, in place: smooth custom normals, a ``UVMap`` layer and/or ``Color`` attribute.

    Objects using ``mesh`` keep it (the interpolation preview is updated this way). Positions,
    edges, corners and UVs go through the generic attribute API, whose ``foreach_set`` copies a matching
    buffer in one go (the ``vertices``/``loops`` collections convert element by element, ~10× slower).
    """
    mesh.clear_geometry()
    mesh.vertices.add(data.vertex_count)
    mesh.attributes["position"].data.foreach_set("vector", data.positions)
    if data.edges is not None:  # given edges spare Blender deriving them in update(), the slowest step here
        mesh.edges.add(len(data.edges) // 2)
        mesh.attributes[".edge_verts"].data.foreach_set("value", data.edges)
    mesh.loops.add(len(data.corner_verts))
    mesh.attributes[".corner_vert"].data.foreach_set("value", data.corner_verts)
    if data.edges is not None:
        mesh.attributes[".corner_edge"].data.foreach_set("value", data.corner_edges)
    mesh.polygons.add(data.face_count)
    mesh.polygons.foreach_set("loop_start", data.face_starts)
    mesh.shade_smooth()
    if data.corner_uvs is not None:
        mesh.uv_layers.new(name="UVMap")
        mesh.attributes["UVMap"].data.foreach_set("vector", data.corner_uvs)
    if data.colors is not None:
        mesh.color_attributes.new("Color", "BYTE_COLOR", "POINT").data.foreach_set("color", data.colors)
    mesh.update()
    if data.normals is not None:
        set_vertex_normals(mesh, data.normals)
    return mesh


FREE_NORMALS = (5, 0, 0)
"""First Blender (tested) that takes custom normals as a plain float ``custom_normal`` point attribute."""


def set_vertex_normals(mesh: bpy.types.Mesh, normals: np.ndarray) -> None:
    """Custom per-vertex normals, (3V,) float32: keeps shading continuous across UV seams, where vertices are split.

    Blender ≥ 5.0 stores them directly as a float attribute (≈ 10× faster than the encoded
    per-corner path older versions need).
    """
    if bpy.app.version >= FREE_NORMALS:
        mesh.attributes.new("custom_normal", "FLOAT_VECTOR", "POINT").data.foreach_set("vector", normals)
    else:
        mesh.normals_split_custom_set_from_vertices(normals.reshape(-1, 3))


def texture_image(name: str, png: bytes, size: tuple[int, int]) -> bpy.types.Image:
    """A packed image datablock (stored in the .blend) holding ``png`` of ``size`` (width, height).

    Packing the encoded bytes lets Blender decode them only when something draws the image, as it
    does for the images the glTF importer brings in; setting float pixels and packing those makes
    Blender encode a PNG itself on the main thread, about 10× slower.
    """
    image = bpy.data.images.new(name, width=size[0], height=size[1], alpha=False)
    image.source = "FILE"
    image.filepath_raw = f"//{bpy.path.clean_name(name)}.png"
    image.file_format = "PNG"
    image.pack(data=png, data_len=len(png))
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


def import_mesh(name: str, data: BlenderMesh, properties: Mapping[str, object] | None = None) -> bpy.types.Object:
    """A new object at the 3D cursor in the ``Distill3D`` collection, with its material and ``properties`` as custom properties."""
    return place(bpy.data.objects.new(name, with_material(build_mesh(name, data), name, data)), properties)


def import_arrays(name: str, arrays: Mapping[str, np.ndarray], properties: Mapping[str, object] | None = None) -> bpy.types.Object:
    """:func:`import_mesh` of raw result arrays, prepared on the calling thread (``ValueError`` if inconsistent)."""
    return import_mesh(name, prepare(arrays), properties)


def with_material(mesh: bpy.types.Mesh, name: str, data: BlenderMesh) -> bpy.types.Mesh:
    """``mesh`` with a new material for the prepared mesh's texture or vertex colours."""
    image = texture_image(name, data.texture_png, data.texture_size) if data.texture_png is not None else None
    mesh.materials.append(material(name, image, data.colors is not None))
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
