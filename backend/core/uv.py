"""UV unwrapping with xatlas, tuned for speed.

xatlas's cost grows faster than linearly with chart size: its default options
take ~6 s for a 20k-face mesh on a 2-core CPU, mostly growing and flattening a
few large charts. Capping the chart area (a fraction of the surface), skipping
the chart-merging iterations and chart rotation, and fixing the texel density
so that packing runs once bring that to ~0.5 s with similar texture use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xatlas

from protocol.schema import Record, param


@dataclass(frozen=True)
class UnwrapOptions(Record):
    texture_size: int = param(1024, doc="Side of the square atlas, texels.", ge=64, le=8192)
    chart_area_fraction: float = param(
        1 / 300, doc="Largest chart as a fraction of the surface area (0: no cap, xatlas's default).", ge=0.0, le=1.0
    )
    padding: int = param(2, doc="Texels between charts.", ge=0, le=16)
    fill: float = param(0.5, doc="Fraction of the atlas the charts should cover (sets the texel density).", gt=0.05, le=0.9)


FAST = UnwrapOptions()
DEFAULT = UnwrapOptions(chart_area_fraction=0.0)


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
    """Charts, flattening and packing into one atlas of ``options.texture_size``² texels."""
    vertices = np.ascontiguousarray(vertices, np.float32)
    faces = np.ascontiguousarray(faces, np.uint32)
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    area = float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
    chart = xatlas.ChartOptions()
    if options.chart_area_fraction > 0:
        chart.max_chart_area = area * options.chart_area_fraction
        chart.max_iterations = 0
    texels_per_unit = math.sqrt(options.fill * options.texture_size**2 / max(area, 1e-12))
    for _ in range(8):  # shrink the density until everything fits in one atlas
        pack = xatlas.PackOptions()
        pack.resolution = options.texture_size
        pack.texels_per_unit = texels_per_unit
        pack.padding = options.padding
        pack.rotate_charts = options.chart_area_fraction == 0
        atlas = xatlas.Atlas()
        atlas.add_mesh(vertices, faces)
        atlas.generate(chart, pack)
        if atlas.atlas_count == 1:
            break
        texels_per_unit *= 0.85
    vertex_map, new_faces, uvs = atlas[0]
    return Unwrapped(vertex_map.astype(np.int64), new_faces.astype(np.int32), uvs.astype(np.float32), atlas.chart_count)
