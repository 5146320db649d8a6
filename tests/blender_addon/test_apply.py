"""Applying downloaded results in real Blender (bpy 5.0.1): the GLB fallback and malformed results."""

import subprocess
import sys

from tests.support.servers import REPO

SCRIPT = r"""
import bpy, numpy as np, trimesh
from backend.core.glb import MeshAsset
from backend.core import mesh_ops
from blender_addon import apply
from blender_addon.session import Outcome, TrackedJob

sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.5)
positions, faces = np.asarray(sphere.vertices, np.float32), np.asarray(sphere.faces, np.int32)
uvs = np.stack([positions[:, 0] + 0.5, positions[:, 1] + 0.5], 1).astype(np.float32)
texture = np.full((16, 16, 3), 90, np.uint8)
glb = MeshAsset(positions, mesh_ops.area_weighted_normals(positions, faces), faces, uvs=uvs, texture=texture).to_glb()

bpy.context.scene.cursor.location = (0.0, 4.0, 0.0)
job = TrackedJob("job-glb-only", "generate")
obj = apply.import_result(job, Outcome("result", job, files={"mesh.glb": glb}), name="From GLB")
assert obj.name == "From GLB" and obj.type == "MESH"
assert [c.name for c in obj.users_collection] == ["Distill3D"], obj.users_collection[:]
assert tuple(obj.location) == (0.0, 4.0, 0.0) and obj["distill3d_job"] == "job-glb-only"
assert (len(obj.data.polygons), len(obj.data.vertices)) == (len(faces), len(positions))
assert obj.data.materials[0].node_tree.nodes.get("Image Texture") is not None, "the GLB's texture came along"

try:
    apply.import_result(job, Outcome("result", job, files={"notes.txt": b"hi"}))
except ValueError as exc:
    assert "neither mesh arrays nor a GLB" in str(exc)
else:
    raise AssertionError("a result without a mesh was imported")
try:
    apply.update_interpolation_preview(Outcome("result", TrackedJob("j2", "interpolate")), 0.5)
except ValueError as exc:
    assert "no mesh" in str(exc)
else:
    raise AssertionError("an interpolation result without a mesh was applied")

from types import SimpleNamespace
variants = TrackedJob("j3", "variants")
assert apply.empty_variants_note(variants) == ""
metadata = {"variants": [{"seed": 10}, {"seed": 12}], "empty": [{"seed": 11, "reason": "r"}, {"seed": 13, "reason": "r"}]}
variants.info = SimpleNamespace(result=SimpleNamespace(metadata=metadata))
assert apply.empty_variants_note(variants).startswith("2 of 4 seeds gave no mesh (11, 13)"), apply.empty_variants_note(variants)
print("ok")
"""


def test_a_result_with_only_a_glb_goes_through_blenders_gltf_importer():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
