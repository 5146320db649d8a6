"""Result arrays laid out for Blender off the main thread (no bpy needed)."""

import zlib

import numpy as np
import pytest
from PIL import Image
import io

from blender_addon.mesh_data import BlenderMesh, png_bytes, prepare, prepare_result


def _triangle_pair(**extra):
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    return {"positions": positions, "faces": faces, **extra}


def test_prepare_turns_y_up_into_z_up_and_lays_out_corners():
    uvs = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)
    mesh = prepare(_triangle_pair(uvs=uvs, normals=np.array([[0, 1, 0]] * 4, np.float32)))
    assert isinstance(mesh, BlenderMesh) and (mesh.vertex_count, mesh.face_count) == (4, 2)
    assert mesh.positions.reshape(-1, 3)[2].tolist() == [0, 0, 1], "glTF +Y is Blender +Z"
    assert mesh.positions.reshape(-1, 3)[3].tolist() == [0, -1, 0], "glTF +Z is Blender −Y"
    assert mesh.normals.reshape(-1, 3)[0].tolist() == [0, 0, 1]
    assert mesh.corner_verts.tolist() == [0, 1, 2, 0, 2, 3] and mesh.face_starts.tolist() == [0, 3]
    assert mesh.corner_uvs.reshape(-1, 2)[5].tolist() == [1, 1], "corner 5 is vertex 3's UV"
    assert mesh.texture_png is None and mesh.colors is None


def test_png_bytes_decode_to_the_same_pixels_row_zero_on_top():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = png_bytes(image)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), image)
    mesh = prepare(_triangle_pair(uvs=np.zeros((4, 2), np.float32), texture=image))
    assert mesh.texture_size == (7, 5) and mesh.texture_png == data
    assert zlib.decompress(data[data.index(b"IDAT") + 4: data.index(b"IEND") - 8])[: 1] == b"\x00"


def test_colours_become_unit_floats():
    mesh = prepare(_triangle_pair(colors=np.full((4, 4), 255, np.uint8)))
    assert mesh.colors.shape == (16,) and np.allclose(mesh.colors, 1.0)


@pytest.mark.parametrize("change, message", [
    (dict(faces=np.array([[0, 1, 9]], np.int32)), "do not exist"),
    (dict(positions=np.zeros((4, 2), np.float32)), "expected positions"),
    (dict(uvs=np.zeros((3, 2), np.float32)), "uvs has shape"),
    (dict(texture=np.zeros((4, 4), np.uint8)), "texture has shape"),
    (dict(edges=np.array([[0, 1]], np.int32)), "come together"),
    (dict(edges=np.array([[0, 7]], np.int32), corner_edges=np.zeros((2, 3), np.int32)), "edges index vertices"),
    (dict(edges=np.array([[0, 1]], np.int32), corner_edges=np.ones((2, 3), np.int32)), "corner_edges index edges"),
    (dict(edges=np.array([[0, 1]], np.int32), corner_edges=np.zeros((3,), np.int32)), "expected edges"),
])
def test_inconsistent_arrays_are_refused_with_the_reason(change, message):
    with pytest.raises(ValueError, match=message):
        prepare(_triangle_pair(**change))


def test_prepare_result_finds_every_mesh_by_prefix_and_names_the_broken_one():
    single = prepare_result({**_triangle_pair(), "latent": np.zeros(4, np.float32)})
    assert list(single) == [""]
    variants = {f"v{i}.{k}": v for i in range(3) for k, v in _triangle_pair().items()}
    assert list(prepare_result(variants)) == ["v0.", "v1.", "v2."]
    variants["v1.faces"] = np.array([[0, 1, 7]], np.int32)
    with pytest.raises(ValueError, match="mesh v1: faces index"):
        prepare_result(variants)
    assert prepare_result({"meta": np.zeros(1)}) == {}


def test_a_result_texture_png_is_used_as_it_is_and_a_non_png_is_refused():
    png = png_bytes(np.zeros((6, 10, 3), np.uint8))
    mesh = prepare(_triangle_pair(uvs=np.zeros((4, 2), np.float32)), texture_png=png)
    assert mesh.texture_png is png and mesh.texture_size == (10, 6)
    with pytest.raises(ValueError, match="not a PNG"):
        prepare(_triangle_pair(), texture_png=b"GIF89a" + bytes(30))
    variants = {f"v{i}.{k}": v for i in range(2) for k, v in _triangle_pair().items()}
    meshes = prepare_result(variants, {"v1.texture.png": png})
    assert meshes["v0."].texture_png is None and meshes["v1."].texture_size == (10, 6)
