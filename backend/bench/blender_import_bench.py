"""``distill3d bench blender-import``: a textured mesh into Blender from the wire's arrays vs. Blender's glTF importer.

Both import the same asset (the export benchmark's torus and sphere, decimated to the
target face count, 1024² texture) into an empty scene of real Blender (``bpy``), in the
same process and run; theirs is ``bpy.ops.import_scene.gltf`` on the asset's GLB, ours is the
add-on's path in its two parts: :func:`blender_addon.mesh_data.prepare` (numpy, runs on the
add-on's download thread while Blender stays responsive) and :func:`blender_addon.importer.import_mesh`
(the main thread's share, which is what blocks the UI). Both parts are reported, and their sum.
The arrays carry the mesh's edges, as every result does: the backend derives them when it
exports (:func:`backend.core.mesh_ops.edge_topology`, timed and shown on its own row), so that
Blender does not have to on its main thread.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, TextIO

from ..core.export import ExportConfig, export_textured
from ..core.mesh_ops import edge_topology
from ..table import print_table
from .workloads import BOX, stripes, torus_and_sphere


def _best(action: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` runs of ``action``, each in a freshly emptied scene."""
    import bpy

    times = []
    for _ in range(repeats):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def run_blender_import_bench(faces: int, resolution: int, repeats: int, out: TextIO = sys.stdout) -> None:
    try:
        import bpy
    except ImportError:
        raise SystemExit("bench blender-import needs Blender as a Python module: pip install bpy==5.0.1 (Python 3.11, numpy<2)") from None
    from blender_addon.importer import import_mesh
    from blender_addon.mesh_data import prepare

    config = replace(ExportConfig(), resolution=resolution, target_faces=faces)
    asset, glb, _ = export_textured(torus_and_sphere, stripes, BOX, config)
    arrays = {name: array for name, array in asset.arrays().items() if name != "texture"}  # what a result carries:
    png = asset.encoded_texture("PNG")  # geometry arrays and the texture.png that the GLB embeds too
    started = time.perf_counter()
    edge_topology(asset.faces, len(asset.positions))
    edges = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="distill3d-bench-") as folder:
        path = Path(folder) / "asset.glb"
        path.write_bytes(glb)
        prepared = prepare(arrays, png)
        preparing = _best(lambda: prepare(arrays, png), repeats)
        importing = _best(lambda: import_mesh("asset", prepared), repeats)
        gltf = _best(lambda: bpy.ops.import_scene.gltf(filepath=str(path)), repeats)
    print(f"distill3d bench blender-import — Blender {bpy.app.version_string} (bpy), {os.cpu_count()} CPU cores, best of {repeats}", file=out)
    faces_text = f"{len(asset.faces):,}"
    rows = [
        ("ours: main thread (import_mesh)", faces_text, f"{importing * 1000:,.0f}", f"{gltf / importing:.1f}×"),
        ("ours: download thread (prepare)", faces_text, f"{preparing * 1000:,.0f}", "—"),
        ("ours: both", faces_text, f"{(importing + preparing) * 1000:,.0f}", f"{gltf / (importing + preparing):.1f}×"),
        ("bpy.ops.import_scene.gltf (main thread)", faces_text, f"{gltf * 1000:,.0f}", "1×"),
        ("(backend, at export: deriving the edges)", faces_text, f"{edges * 1000:,.0f}", "—"),
    ]
    print_table(f"Importing a textured mesh ({asset.texture.shape[0]}² texture, GLB {len(glb) / 1e6:.1f} MB)", ("path", "faces", "ms", "vs glTF"), rows, out)
