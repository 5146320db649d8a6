"""The cheap GLB check a job's input file gets at submit: header and JSON chunk only."""

import json
import struct

import pytest
import trimesh

from backend.core.glb_check import check_glb


@pytest.fixture
def box(tmp_path):
    path = tmp_path / "box.glb"
    path.write_bytes(trimesh.creation.box().export(file_type="glb"))
    return path


def glb_of(document: dict) -> bytes:
    """A GLB holding only a JSON chunk (padded to 4 bytes, as the spec asks)."""
    text = json.dumps(document).encode()
    chunk = text + b" " * (-len(text) % 4)
    return struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(chunk)) + struct.pack("<I4s", len(chunk), b"JSON") + chunk


def test_a_glb_with_a_mesh_passes(box):
    check_glb(box)


@pytest.mark.parametrize(
    "content, words",
    [
        (b"hello, not a mesh\n", "is not a GLB file"),
        (b"", "is not a GLB file"),
        (None, "truncated"),
        (glb_of({"asset": {"version": "2.0"}}), "holds no mesh"),
        (glb_of({"asset": {"version": "2.0"}})[:-4] + b"{{{{", "does not parse"),
    ],
)
def test_what_is_not_a_usable_glb_is_named(box, tmp_path, content, words):
    path = tmp_path / "thing.glb"
    path.write_bytes(box.read_bytes()[:-10] if content is None else content)
    with pytest.raises(ValueError, match=words):
        check_glb(path)


def test_a_missing_file_or_a_folder_cannot_be_read(tmp_path):
    for path in (tmp_path / "no-such.glb", tmp_path):
        with pytest.raises(ValueError, match="cannot read"):
            check_glb(path)
