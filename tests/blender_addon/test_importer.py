"""Importing result arrays into real Blender (bpy 5.0.1), in a fresh process per test module."""

import subprocess
import sys

from tests.support.servers import REPO

SCRIPT = r"""
import numpy as np, bpy, trimesh
from blender_addon.importer import import_arrays
from backend.core.glb import MeshAsset
from backend.core import mesh_ops

sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
positions = np.asarray(sphere.vertices, np.float32)
faces = np.asarray(sphere.faces, np.int32)
uvs = np.stack([np.arctan2(positions[:, 0], positions[:, 2]) / (2 * np.pi) + 0.5, positions[:, 1] + 0.5], 1).astype(np.float32)
texture = np.zeros((64, 64, 3), np.uint8); texture[:32] = (255, 0, 0); texture[32:] = (0, 0, 255)  # red top half
asset = MeshAsset(positions, mesh_ops.area_weighted_normals(positions, faces), faces, uvs=uvs, texture=texture)
bpy.context.scene.cursor.location = (1.0, 2.0, 3.0)
obj = import_arrays("thing", asset.arrays(), {"distill3d_job": "abc", "distill3d_seed": 7})
mesh = obj.data
assert (len(mesh.vertices), len(mesh.polygons)) == (len(positions), len(faces))
assert len(mesh.edges) == len(asset.arrays()["edges"]) and not mesh.validate(verbose=False), "the given edges are a valid topology"
derived = import_arrays("derived", {k: v for k, v in asset.arrays().items() if "edges" not in k}).data
assert {tuple(sorted(e.vertices)) for e in derived.edges} == {tuple(sorted(e.vertices)) for e in mesh.edges}, "the edges Blender derives"
assert tuple(obj.location) == (1.0, 2.0, 3.0) and obj.users_collection[0].name == "Distill3D"
assert obj["distill3d_job"] == "abc" and obj["distill3d_seed"] == 7
top = max(range(len(positions)), key=lambda i: positions[i, 1])
assert abs(mesh.vertices[top].co.z - 0.5) < 1e-6, "glTF +Y becomes Blender +Z"
normals = np.zeros(len(mesh.loops) * 3, np.float32); mesh.corner_normals.foreach_get("vector", normals)
expected = asset.normals[faces.ravel()][:, [0, 2, 1]] * (1, -1, 1)
assert np.allclose(normals.reshape(-1, 3), expected, atol=1e-5), "the arrays' normals are the shading normals"
uv = np.zeros(len(mesh.loops) * 2, np.float32); mesh.uv_layers["UVMap"].data.foreach_get("uv", uv)
assert np.allclose(uv.reshape(-1, 2), uvs[faces.ravel()])
image = mesh.materials[0].node_tree.nodes["Image Texture"].image
assert image.packed_file is not None and tuple(image.size) == (64, 64)
pixels = np.zeros(64 * 64 * 4, np.float32); image.pixels.foreach_get(pixels)
pixels = pixels.reshape(64, 64, 4)
assert np.allclose(pixels[-1, 0, :3], (1, 0, 0)) and np.allclose(pixels[0, 0, :3], (0, 0, 1)), "row 0 of the texture is the top"
colored = import_arrays("dots", MeshAsset(positions, asset.normals, faces, colors=np.full((len(positions), 4), 200, np.uint8)).arrays())
assert colored.data.color_attributes["Color"].data[0].color[0] > 0.7
try:
    import_arrays("bad", {"positions": positions, "faces": faces + 10_000})
except ValueError as exc:
    assert "do not exist" in str(exc)
else:
    raise AssertionError("bad faces were accepted")
print("ok")
"""


def test_import_builds_mesh_uvs_material_and_packed_texture():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
