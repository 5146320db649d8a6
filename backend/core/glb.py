"""A mesh asset as the wire and the GLB carry it."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from . import mesh_ops

GLB_MEDIA_TYPE = "model/gltf-binary"
PNG_LEVEL = 1
"""zlib level of PNG textures: 1 encodes a 1024² texture in about half the time of PIL's default 6,
for about 40% more bytes (still a fraction of the mesh's)."""
TEXTURE_ITEM = "texture.png"
"""Result file holding the texture (after the item prefix, e.g. ``v0.texture.png``)."""
MESH_ITEM = "mesh.glb"
"""Result file holding the GLB."""
ARRAY_BUFFER = 34962
"""glTF ``bufferView.target`` of vertex attribute data."""
ELEMENT_ARRAY_BUFFER = 34963
"""glTF ``bufferView.target`` of index data."""


class PreEncoded(Image.Image):
    """A PIL image that trimesh's GLB writer 'saves' by writing bytes encoded beforehand (once, shared with the result's texture item)."""

    encoded = b""

    def save(self, fp, format=None, **params):  # noqa: A002 - PIL's signature
        fp.write(self.encoded)


@dataclass
class MeshAsset:
    """A triangle mesh with either a texture (and UVs) or vertex colours."""

    positions: np.ndarray
    """(V, 3) float32, world frame (Y up)."""
    normals: np.ndarray
    """(V, 3) float32, unit."""
    faces: np.ndarray
    """(F, 3) int32, counter-clockwise seen from outside."""
    uvs: np.ndarray | None = None
    """(V, 2) float32, origin at the texture's bottom-left."""
    texture: np.ndarray | None = None
    """(S, S, 3) uint8 base colour; row 0 is the top."""
    colors: np.ndarray | None = None
    """(V, 4) uint8 RGBA vertex colours (the preview path)."""
    _encoded: dict[str, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Texture bytes by image format, encoded on first use."""

    def encoded_texture(self, image_format: str = "PNG") -> bytes:
        """The texture encoded as ``PNG`` (zlib level :data:`PNG_LEVEL`) or ``JPEG``, once per format."""
        image_format = image_format.upper()
        if image_format not in self._encoded:
            buffer = io.BytesIO()
            Image.fromarray(self.texture).save(buffer, format=image_format, **({"compress_level": PNG_LEVEL} if image_format == "PNG" else {}))
            self._encoded[image_format] = buffer.getvalue()
        return self._encoded[image_format]

    def arrays(self) -> dict[str, np.ndarray]:
        """The raw arrays for a job result (float32 positions/normals/uvs, int32 faces, edges and corner_edges
        (:func:`~.mesh_ops.edge_topology`), uint8 texture or colours)."""
        edges, corner_edges = mesh_ops.edge_topology(self.faces, len(self.positions))
        out = {
            "positions": self.positions.astype(np.float32), "normals": self.normals.astype(np.float32), "faces": self.faces.astype(np.int32),
            "edges": edges, "corner_edges": corner_edges,
        }  # fmt: skip
        if self.uvs is not None:
            out["uvs"] = self.uvs.astype(np.float32)
        if self.texture is not None:
            out["texture"] = self.texture.astype(np.uint8)
        if self.colors is not None:
            out["colors"] = self.colors.astype(np.uint8)
        return out

    def to_glb(self, image_format: str = "PNG") -> bytes:
        """GLB bytes: a PBR material (metallic 0, roughness 1) with the texture, or COLOR_0 vertex colours."""
        import trimesh

        if self.texture is not None:
            image = Image.fromarray(self.texture)
            image.__class__ = PreEncoded
            image.encoded = self.encoded_texture(image_format)
            image.format = image_format.upper()  # trimesh names the embedded image's type after this
            material = trimesh.visual.material.PBRMaterial(baseColorTexture=image, metallicFactor=0.0, roughnessFactor=1.0)
            visual = trimesh.visual.TextureVisuals(uv=self.uvs, material=material)
        elif self.colors is not None:
            visual = trimesh.visual.ColorVisuals(vertex_colors=self.colors)
        else:
            visual = None
        mesh = trimesh.Trimesh(self.positions, self.faces, vertex_normals=self.normals, visual=visual, process=False)
        return mesh.export(file_type="glb", tree_postprocessor=set_buffer_view_targets)


def set_buffer_view_targets(tree: dict) -> None:
    """Give every bufferView a primitive reads (in place, on a glTF JSON tree) its ``target``: :data:`ARRAY_BUFFER`
    for vertex attributes, :data:`ELEMENT_ARRAY_BUFFER` for indices. Image views keep none, as the spec asks;
    trimesh sets none at all, which the Khronos validator reports as BUFFER_VIEW_TARGET_MISSING hints."""
    views, accessors = tree.get("bufferViews", []), tree.get("accessors", [])
    for mesh in tree.get("meshes", []):
        for primitive in mesh["primitives"]:
            for accessor in primitive["attributes"].values():
                views[accessors[accessor]["bufferView"]]["target"] = ARRAY_BUFFER
            if "indices" in primitive:
                views[accessors[primitive["indices"]]["bufferView"]]["target"] = ELEMENT_ARRAY_BUFFER

