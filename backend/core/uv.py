"""UV unwrapping: xatlas (tuned), or axis-projected charts (fast), behind one interface.

xatlas's cost grows faster than linearly with chart size: its default options
take ~6 s for a 20k-face mesh on a 2-core CPU (12 minutes for 300k faces),
mostly growing and flattening a few large charts. Capping the chart area (to
about ``chart_faces`` faces' worth), skipping the chart-merging iterations and
chart rotation, and fixing the texel density so that packing runs once bring
that to under a second.

``method="projection"`` builds charts of about ``chart_faces`` faces itself, in
vectorised numpy: faces are grouped by a spatial cell and their dominant normal
axis (±X, ±Y, ±Z), each connected group is projected along its axis (every
normal in it is within 54.7° of that axis, so no triangle flips; area stretch
at most √3) and the charts are shelf-packed. It is ~10× faster than tuned
xatlas, with a similar number of charts and a little less texture use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph
import xatlas


@dataclass(frozen=True)
class UnwrapOptions:
    """How a mesh gets its UV atlas."""

    texture_size: int = 1024
    """Side of the square atlas, texels (64…8192)."""
    chart_faces: int = 64
    """Cap charts at about this many average faces' area (0: no cap, xatlas's default)."""
    padding: int = 2
    """Texels between charts (0…16)."""
    method: str = "projection"
    """'projection' (fast, axis-projected charts) or 'xatlas'."""
    fill: float = 0.5
    """Fraction of the atlas the charts should cover (sets the texel density), in (0.05, 0.9]."""

    def __post_init__(self) -> None:
        if not 64 <= self.texture_size <= 8192 or self.chart_faces < 0 or not 0 <= self.padding <= 16:
            raise ValueError(f"unwrap: texture_size 64…8192, chart_faces ≥ 0, padding 0…16; got {self}")
        if self.method not in ("projection", "xatlas") or not 0.05 < self.fill <= 0.9:
            raise ValueError(f"unwrap: method 'projection'/'xatlas', fill in (0.05, 0.9]; got {self}")


FAST = UnwrapOptions()
XATLAS = UnwrapOptions(method="xatlas")
"""xatlas with the speed tuning above."""
DEFAULT = UnwrapOptions(method="xatlas", chart_faces=0)
"""xatlas with all its defaults (the usual, slow path); the texture is still baked at ``texture_size``."""


@dataclass
class Unwrapped:
    vertex_map: np.ndarray
    """(V',) index into the input vertices of every unwrapped vertex (seams duplicate vertices)."""
    faces: np.ndarray
    """(F, 3) int32 into the unwrapped vertices, same order as the input faces."""
    uvs: np.ndarray
    """(V', 2) float32 in [0, 1], origin at the bottom-left of the texture (OpenGL, trimesh)."""
    charts: int


def unwrap(vertices: np.ndarray, faces: np.ndarray, options: UnwrapOptions = FAST) -> Unwrapped:
    """Charts, flattening and packing into one atlas (of ``options.texture_size``² texels unless xatlas runs on defaults)."""
    vertices = np.ascontiguousarray(vertices, np.float32)
    faces = np.ascontiguousarray(faces, np.uint32)
    if options.method == "projection":
        return _projection_unwrap(vertices, faces.astype(np.int64), options)
    atlas = _xatlas_defaults(vertices, faces) if options.chart_faces == 0 else _xatlas_tuned(vertices, faces, options)
    vertex_map, new_faces, uvs = atlas[0]
    return Unwrapped(vertex_map.astype(np.int64), new_faces.astype(np.int32), uvs.astype(np.float32), atlas.chart_count)


def _projection_unwrap(vertices: np.ndarray, faces: np.ndarray, options: UnwrapOptions) -> Unwrapped:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    area = 0.5 * np.linalg.norm(normals, axis=1)
    axis = np.argmax(np.abs(normals), axis=1)
    label = axis * 2 + (normals[np.arange(len(faces)), axis] > 0)
    # cells sized so that a flat chart holds about chart_faces faces
    cell = math.sqrt(max(options.chart_faces, 1) * area.sum() / len(faces))
    centroid = (a + b + c) / 3
    cells = np.floor((centroid - centroid.min(axis=0)) / cell).astype(np.int64)
    span = cells.max(axis=0) + 1
    group = ((cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]) * 6 + label  # one int64 key per face
    chart = _connected_within_groups(faces, group)
    # one UV vertex per (chart, vertex)
    keys, corner_index = np.unique(np.repeat(chart, 3) * len(vertices) + faces.reshape(-1), return_inverse=True)
    vertex_map = keys % len(vertices)
    new_faces = corner_index.reshape(-1, 3).astype(np.int32)
    chart_of_vertex = keys // len(vertices)
    chart_axis = np.empty(chart.max() + 1, np.int64)
    chart_axis[chart] = axis
    others = np.array([[2, 1], [0, 2], [0, 1]])[chart_axis[chart_of_vertex]]  # X→(z, y), Y→(x, z), Z→(x, y)
    flat = np.take_along_axis(vertices[vertex_map], others, axis=1)
    uvs = _shelf_pack(flat, chart_of_vertex, area.sum(), options)
    return Unwrapped(vertex_map, new_faces, uvs, int(chart.max()) + 1)


def _connected_within_groups(faces: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Chart id per face: connected components (through shared edges) of faces in the same group."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    owner = np.tile(np.arange(len(faces)), 3)
    key = edges.min(axis=1) * (int(faces.max()) + 1) + edges.max(axis=1)
    order = np.argsort(key, kind="stable")
    key, owner = key[order], owner[order]
    shared = key[1:] == key[:-1]
    first, second = owner[:-1][shared], owner[1:][shared]
    same = group[first] == group[second]
    graph = scipy.sparse.coo_matrix((np.ones(int(same.sum()), np.int8), (first[same], second[same])), shape=(len(faces),) * 2)
    return scipy.sparse.csgraph.connected_components(graph, directed=False)[1]


def _shelf_pack(flat: np.ndarray, chart: np.ndarray, surface_area: float, options: UnwrapOptions) -> np.ndarray:
    """UVs in [0, 1] of per-chart planar coordinates ``flat`` (V, 2), charts placed on shelves (tallest first)."""
    charts = int(chart.max()) + 1
    lo = np.full((charts, 2), np.inf)
    hi = np.full((charts, 2), -np.inf)
    np.minimum.at(lo, chart, flat)
    np.maximum.at(hi, chart, flat)
    extent = hi - lo
    size = options.texture_size
    scale = math.sqrt(options.fill * size * size / max(surface_area, 1e-12))
    order = np.argsort(-extent[:, 1], kind="stable")
    for _ in range(32):  # shrink until the shelves fit the square
        cells = np.ceil(extent * scale).astype(np.int64) + 1 + options.padding
        offsets = np.zeros((charts, 2), np.int64)
        x = y = shelf = 0
        for index in order.tolist():
            width, height = cells[index]
            if x + width > size:
                x, y, shelf = 0, y + shelf, 0
            offsets[index] = (x, y)
            x += width
            shelf = max(shelf, height)
        if y + shelf <= size and cells[:, 0].max() <= size:
            break
        scale *= 0.93
    texels = offsets[chart] + options.padding / 2 + (flat - lo[chart]) * scale
    return (texels / size).astype(np.float32)


def _xatlas_defaults(vertices: np.ndarray, faces: np.ndarray) -> xatlas.Atlas:
    atlas = xatlas.Atlas()
    atlas.add_mesh(vertices, faces)
    atlas.generate()
    return atlas


def _xatlas_tuned(vertices: np.ndarray, faces: np.ndarray, options: UnwrapOptions) -> xatlas.Atlas:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    area = float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
    chart = xatlas.ChartOptions()
    chart.max_chart_area = area * options.chart_faces / len(faces)
    chart.max_iterations = 0
    texels_per_unit = math.sqrt(options.fill * options.texture_size**2 / max(area, 1e-12))
    for _ in range(8):  # shrink the density until everything fits in one atlas
        pack = xatlas.PackOptions()
        pack.resolution = options.texture_size
        pack.texels_per_unit = texels_per_unit
        pack.padding = options.padding
        pack.rotate_charts = False
        atlas = xatlas.Atlas()
        atlas.add_mesh(vertices, faces)
        atlas.generate(chart, pack)
        if atlas.atlas_count == 1:
            break
        texels_per_unit *= 0.85
    return atlas
