"""Result arrays → a mesh laid out as Blender stores it, free of ``bpy`` so it runs on the download thread.

The arrays are the wire's (see ``backend/core/glb.py``): float32 positions/normals/uvs in the
glTF frame (+Y up), int32 faces, uint8 RGBA vertex colours; the texture comes as the result's
``texture.png`` file (packed into Blender as it is), or as a uint8 ``texture`` array (row 0 on top).
Blender is +Z up; a point (x, y, z) becomes (x, −z, y), the inverse of what Blender's glTF
exporter does. Everything here is numpy and zlib: the main thread only copies finished buffers
into Blender (``importer.py``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

PNG_LEVEL = 1
"""zlib level of packed textures: several times faster than the default 6, a little larger."""


@dataclass(frozen=True)
class BlenderMesh:
    """One triangle mesh in Blender's layout (flat buffers ready for ``foreach_set``)."""

    positions: np.ndarray
    """(3V,) float32, Blender frame (+Z up)."""
    corner_verts: np.ndarray
    """(3F,) int32: the vertex of each face corner."""
    face_starts: np.ndarray
    """(F,) int32: first corner of each face (0, 3, 6, …)."""
    edges: np.ndarray | None = None
    """(2E,) int32: the vertex pairs of the edges, when the result carries them (Blender need not derive them)."""
    corner_edges: np.ndarray | None = None
    """(3F,) int32: the edge from each corner's vertex to the next corner's, with ``edges``."""
    normals: np.ndarray | None = None
    """(3V,) float32 unit vertex normals, Blender frame."""
    corner_uvs: np.ndarray | None = None
    """(6F,) float32: the UV of each face corner."""
    colors: np.ndarray | None = None
    """(4V,) float32 RGBA vertex colours in [0, 1] (the preview path)."""
    texture_png: bytes | None = None
    """The base-colour texture as an RGB PNG."""
    texture_size: tuple[int, int] = (0, 0)
    """(width, height) of the texture in pixels."""

    @property
    def vertex_count(self) -> int:
        return len(self.positions) // 3

    @property
    def face_count(self) -> int:
        return len(self.face_starts)


def to_blender(vectors: np.ndarray) -> np.ndarray:
    """glTF-frame vectors (N, 3) → Blender's frame (N, 3), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return np.stack([vectors[:, 0], -vectors[:, 2], vectors[:, 1]], axis=1)


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
    if ("edges" in arrays) != ("corner_edges" in arrays):
        raise ValueError("'edges' and 'corner_edges' come together")
    if "edges" in arrays:
        edges, corner_edges = np.asarray(arrays["edges"]), np.asarray(arrays["corner_edges"])
        if edges.ndim != 2 or edges.shape[1] != 2 or corner_edges.shape != faces.shape:
            raise ValueError(f"expected edges (E, 2) and corner_edges {faces.shape}, got {edges.shape} and {corner_edges.shape}")
        if edges.size and (edges.min() < 0 or edges.max() >= len(positions)):
            raise ValueError("edges index vertices that do not exist")
        if corner_edges.size and (corner_edges.min() < 0 or corner_edges.max() >= len(edges)):
            raise ValueError("corner_edges index edges that do not exist")
    if "texture" in arrays:
        texture = np.asarray(arrays["texture"])
        if texture.ndim != 3 or texture.shape[2] != 3 or 0 in texture.shape:
            raise ValueError(f"texture has shape {texture.shape}, expected (H, W, 3)")


def prepare(arrays: Mapping[str, np.ndarray], texture_png: bytes | None = None) -> BlenderMesh:
    """Check ``arrays`` (``ValueError`` if inconsistent) and lay them out for Blender.

    ``texture_png`` (the result's ``texture.png``) is used as it is; otherwise a ``texture`` array is encoded.
    """
    check_arrays(arrays)
    faces = np.asarray(arrays["faces"], dtype=np.int32)
    corners = np.ascontiguousarray(faces.ravel())
    if texture_png is not None:
        texture_size = png_size(texture_png)
    elif "texture" in arrays:
        texture = np.asarray(arrays["texture"], dtype=np.uint8)
        texture_png, texture_size = png_bytes(texture), (texture.shape[1], texture.shape[0])
    else:
        texture_size = (0, 0)
    return BlenderMesh(
        positions=to_blender(arrays["positions"]).ravel(),
        corner_verts=corners,
        face_starts=np.arange(0, corners.size, 3, dtype=np.int32),
        edges=np.ascontiguousarray(arrays["edges"], dtype=np.int32).ravel() if "edges" in arrays else None,
        corner_edges=np.ascontiguousarray(arrays["corner_edges"], dtype=np.int32).ravel() if "edges" in arrays else None,
        normals=to_blender(arrays["normals"]).ravel() if "normals" in arrays else None,
        corner_uvs=np.asarray(arrays["uvs"], dtype=np.float32)[corners].ravel() if "uvs" in arrays else None,
        colors=(np.asarray(arrays["colors"], dtype=np.float32) / 255.0).ravel() if "colors" in arrays else None,
        texture_png=texture_png,
        texture_size=texture_size,
    )


TEXTURE_FILE = "texture.png"
"""A result's texture file, after the mesh's item prefix."""


def prepare_result(arrays: Mapping[str, np.ndarray], files: Mapping[str, bytes] | None = None) -> dict[str, BlenderMesh]:
    """Every mesh of a result, by item prefix: ``""`` for a single mesh, ``"v0."``, ``"v1."``, … for variants."""
    files = files or {}
    prefixes = sorted(key[: -len("positions")] for key in arrays if key.endswith("positions"))
    meshes = {}
    for prefix in prefixes:
        own = {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
        try:
            meshes[prefix] = prepare(own, files.get(prefix + TEXTURE_FILE))
        except ValueError as exc:
            raise ValueError(f"mesh {prefix.rstrip('.') or 'of the result'}: {exc}") from exc
    return meshes


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG's header; ``ValueError`` if ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("the texture is not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        raise ValueError(f"the texture PNG is {width}×{height} pixels")
    return width, height


def png_bytes(image: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an (H, W, 3) uint8 image, row 0 on top (zlib only: Blender's Python has no image library)."""
    height, width = image.shape[:2]
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "none" on every row
    rows[:, 1:] = np.asarray(image, dtype=np.uint8).reshape(height, -1)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit truecolour, no interlace
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), PNG_LEVEL)) + chunk(b"IEND", b"")
