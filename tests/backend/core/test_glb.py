import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from backend.core.export import ExportConfig, export_textured, extract_surface, vertex_colored_asset
from backend.core.glb import ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, MeshAsset
from backend.core.uv import UnwrapOptions
from tests.backend.core.test_export import BOX, halves, sphere_sdf

VALIDATOR = Path(__file__).parents[2] / "support" / "gltf_validator"
"""The Khronos glTF validator's npm package (``make gltf-validator``) and the script that runs it."""


@pytest.fixture(scope="module")
def glbs() -> dict[str, bytes]:
    """GLB bytes from every way the code writes one: the textured export (PNG and JPEG textures), the vertex-coloured
    preview, and a bare mesh."""
    textured, png, _ = export_textured(sphere_sdf, halves, BOX, ExportConfig(resolution=24, target_faces=600, unwrap=UnwrapOptions(texture_size=64)))
    vertices, faces = extract_surface(sphere_sdf, BOX, ExportConfig(resolution=16, target_faces=0))
    colored = vertex_colored_asset(vertices, faces, halves)
    bare = MeshAsset(colored.positions, colored.normals, colored.faces)
    return {"textured": png, "textured-jpeg": textured.to_glb("JPEG"), "vertex-coloured": colored.to_glb(), "bare": bare.to_glb()}


def json_chunk(glb: bytes) -> dict:
    """The glTF JSON of a GLB, after checking the header and chunk lengths and their 4-byte alignment."""
    magic, version, length, json_length, json_type = struct.unpack_from("<4sIIII", glb)
    assert (magic, version, json_type, length) == (b"glTF", 2, 0x4E4F534A, len(glb))
    bin_length, bin_type = struct.unpack_from("<II", glb, 20 + json_length)
    assert bin_type == 0x004E4942 and 28 + json_length + bin_length == length
    assert json_length % 4 == 0 and bin_length % 4 == 0
    return json.loads(glb[20 : 20 + json_length])


def test_every_vertex_and_index_buffer_view_has_its_target(glbs):
    for name, glb in glbs.items():
        tree = json_chunk(glb)
        views, accessors = tree["bufferViews"], tree["accessors"]
        (primitive,) = tree["meshes"][0]["primitives"]
        vertex_views = {accessors[a]["bufferView"] for a in primitive["attributes"].values()}
        index_view = accessors[primitive["indices"]]["bufferView"]
        assert {views[v].get("target") for v in vertex_views} == {ARRAY_BUFFER}, name
        assert views[index_view].get("target") == ELEMENT_ARRAY_BUFFER, name
        image_views = {image["bufferView"] for image in tree.get("images", [])}
        assert len(image_views) == (1 if name.startswith("textured") else 0), name
        assert all("target" not in views[v] for v in image_views), name


def validator_reports(paths: list[Path]) -> dict[str, dict]:
    """The Khronos validator's issues per path (skips the test when node or the npm package is missing)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("glTF validator: node is not on PATH")
    if not (VALIDATOR / "node_modules" / "gltf-validator").is_dir():
        pytest.skip("glTF validator: npm package not installed (run `make gltf-validator`; needs npm)")
    run = subprocess.run([node, str(VALIDATOR / "validate.js"), *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return {Path(report["uri"]).stem: report["issues"] for report in json.loads(run.stdout)}


def test_khronos_validator_finds_no_errors_warnings_or_hints(glbs, tmp_path):
    paths = [tmp_path / f"{name}.glb" for name in glbs]
    for path, glb in zip(paths, glbs.values()):
        path.write_bytes(glb)
    reports = validator_reports(paths)
    assert set(reports) == set(glbs)
    for name, issues in reports.items():
        counts = (issues["numErrors"], issues["numWarnings"], issues["numHints"])
        assert counts == (0, 0, 0), f"{name}: {issues['messages']}"
