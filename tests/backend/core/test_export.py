import io
import math

import numpy as np
import pytest
import torch
import trimesh

from backend.core import mesh_ops
from backend.core.bake import bake, dilate, texel_positions
from backend.core.export import ExportConfig, export_textured, extract_surface, vertex_colored_asset
from backend.core.isosurface import marching_cubes, sample_grid
from backend.core.uv import UnwrapOptions, unwrap

BOX = (-0.7, 0.7)
RADIUS = 0.5


def sphere_sdf(points):
    return points.norm(dim=-1) - RADIUS


def halves(points):
    """Red where x > 0, blue elsewhere."""
    red = (points[:, 0] > 0).float()[:, None]
    return red * torch.tensor([1.0, 0.0, 0.0]) + (1 - red) * torch.tensor([0.0, 0.0, 1.0])


def area_volume(vertices, faces):
    a, b, c = (vertices[faces[:, i]].astype(np.float64) for i in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum(), np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6


@pytest.mark.parametrize("inside", ["negative", "positive"])
def test_sphere_area_and_volume_within_one_percent(inside):
    field = sphere_sdf if inside == "negative" else (lambda p: 1.0 - p.norm(dim=-1) / RADIUS)
    level = 0.0
    vertices, faces = marching_cubes(sample_grid(field, 128, BOX), BOX, level, inside)
    area, volume = area_volume(vertices, faces)
    assert abs(area / (4 * math.pi * RADIUS**2) - 1) < 0.01
    assert abs(volume / (4 / 3 * math.pi * RADIUS**3) - 1) < 0.01  # positive: faces wind outwards


def test_cleanup_removes_floaters_and_degenerate_faces():
    def with_floater(p):
        return torch.minimum(sphere_sdf(p), (p - torch.tensor([0.6, 0.6, 0.6])).norm(dim=-1) - 0.03)

    vertices, faces = marching_cubes(sample_grid(with_floater, 96, BOX), BOX)
    faces = np.concatenate([faces, [[0, 0, 1]]])  # a degenerate face
    clean_vertices, clean_faces = mesh_ops.clean(vertices, faces, min_component_fraction=0.01)
    assert len(clean_faces) < len(faces) - 1
    assert np.linalg.norm(clean_vertices, axis=1).max() < RADIUS + 0.02  # the floater near (0.6, 0.6, 0.6) is gone
    assert clean_faces.max() == len(clean_vertices) - 1 and len(np.unique(clean_faces)) == len(clean_vertices)


def test_decimation_reaches_the_target_and_keeps_the_shape():
    vertices, faces = extract_surface(sphere_sdf, BOX, ExportConfig(resolution=96, target_faces=3000))
    assert 2700 <= len(faces) <= 3000
    assert np.abs(np.linalg.norm(vertices, axis=1) - RADIUS).max() < 0.02


@pytest.mark.parametrize("method", ["projection", "xatlas"])
def test_unwrap_gives_one_non_overlapping_atlas(method):
    vertices, faces = extract_surface(sphere_sdf, BOX, ExportConfig(resolution=64, target_faces=4000))
    size = 512
    unwrapped = unwrap(vertices, faces, UnwrapOptions(texture_size=size, method=method))
    assert unwrapped.uvs.min() >= 0 and unwrapped.uvs.max() <= 1 and unwrapped.charts > 1
    assert len(unwrapped.faces) == len(faces)
    assert np.allclose(vertices[unwrapped.vertex_map][unwrapped.faces], vertices[faces])  # same triangles, same order
    uv = unwrapped.uvs[unwrapped.faces] * size
    uv_area = 0.5 * np.abs(np.cross(uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0])).sum()
    mask, _ = texel_positions(vertices[unwrapped.vertex_map], unwrapped.faces, unwrapped.uvs, size)
    assert abs(int(mask.sum()) / uv_area - 1) < 0.05  # overlapping charts would cover fewer texels than their area


@pytest.mark.parametrize("method", ["projection", "xatlas"])
def test_bake_puts_the_field_colour_under_every_vertex(method):
    vertices, faces = extract_surface(sphere_sdf, BOX, ExportConfig(resolution=64, target_faces=4000))
    unwrapped = unwrap(vertices, faces, UnwrapOptions(texture_size=512, method=method))
    positions = vertices[unwrapped.vertex_map]
    texture = bake(halves, positions, unwrapped.faces, unwrapped.uvs, 512)
    rows = np.clip(((1 - unwrapped.uvs[:, 1]) * 512).astype(int), 0, 511)
    cols = np.clip((unwrapped.uvs[:, 0] * 512).astype(int), 0, 511)
    sampled = texture[rows, cols]
    expected = (halves(torch.from_numpy(positions)).numpy() * 255).astype(np.uint8)
    away_from_the_cut = np.abs(positions[:, 0]) > 0.02
    agree = (np.abs(sampled.astype(int) - expected.astype(int)).max(axis=1) < 8)[away_from_the_cut]
    assert agree.mean() > 0.99


def test_dilation_pads_past_chart_edges():
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), bool)
    mask[3:5, 3:5] = True
    image[mask] = [200, 10, 10]
    grown = dilate(image, mask, 2)
    assert (grown[1:7, 1:7] == [200, 10, 10]).all() and (grown[0] == 0).all()


def test_textured_glb_survives_a_trimesh_load_with_colours_intact():
    asset, glb, timings = export_textured(sphere_sdf, halves, BOX, ExportConfig(resolution=64, target_faces=4000, unwrap=UnwrapOptions(texture_size=256)))
    assert set(timings.stages) >= {"marching_cubes", "uv_unwrap", "bake", "glb"}
    loaded = trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh", process=False)
    assert len(loaded.faces) == len(asset.faces)
    assert np.allclose(np.asarray(loaded.vertices), asset.positions, atol=1e-6)
    assert np.allclose(loaded.visual.uv, asset.uvs, atol=1e-6)
    material = loaded.visual.material
    assert material.metallicFactor == 0.0 and material.roughnessFactor == 1.0
    assert np.array_equal(np.asarray(material.baseColorTexture.convert("RGB")), asset.texture)
    arrays = asset.arrays()
    assert {k: v.dtype.str for k, v in arrays.items()} == {
        "positions": "<f4", "normals": "<f4", "faces": "<i4", "edges": "<i4", "corner_edges": "<i4", "uvs": "<f4", "texture": "|u1",
    }  # fmt: skip


def test_vertex_colour_preview_glb():
    vertices, faces = extract_surface(sphere_sdf, BOX, ExportConfig(resolution=32, target_faces=0))
    asset = vertex_colored_asset(vertices, faces, halves)
    loaded = trimesh.load(io.BytesIO(asset.to_glb()), file_type="glb", force="mesh", process=False)
    colors = np.asarray(loaded.visual.vertex_colors)
    assert np.array_equal(colors, asset.colors)
    assert (colors[vertices[:, 0] > 0.05, 0] == 255).all() and (colors[vertices[:, 0] < -0.05, 2] == 255).all()


def test_empty_field_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        export_textured(lambda p: p.norm(dim=-1) + 1.0, halves, BOX, ExportConfig(resolution=16))


def test_projection_charts_never_flip_a_triangle():
    vertices, faces = extract_surface(sphere_sdf, BOX, ExportConfig(resolution=64, target_faces=4000))
    unwrapped = unwrap(vertices, faces, UnwrapOptions(texture_size=512))
    uv = unwrapped.uvs[unwrapped.faces]
    signed = np.cross(uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0])
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    axis = np.argmax(np.abs(normals), axis=1)
    positive = normals[np.arange(len(faces)), axis] > 0
    # within a chart every face keeps the orientation its projection axis gives it: no fold-overs
    for label in range(6):
        chosen = (axis == label // 2) & (positive == bool(label % 2))
        if chosen.any():
            assert (np.sign(signed[chosen]) == np.sign(signed[chosen][0])).all()


def test_slivers_that_hold_no_texel_centre_still_get_baked():
    positions = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.01, 0.0]], np.float32)
    uvs = np.array([[0.1, 0.5], [0.9, 0.5], [0.5, 0.502]], np.float32)  # 0.2 texels tall at 64²: between texel centres
    faces = np.array([[0, 1, 2]], np.int32)
    mask, _ = texel_positions(positions, faces, uvs, 64)
    assert not mask.any()
    texture = bake(halves, positions, faces, uvs, 64, padding=0)
    row = int((1 - 0.5) * 64)
    lit = texture[row - 1 : row + 1, 7:57].max(axis=0)
    assert (lit.sum(axis=1) > 0).all()  # every texel column the sliver crosses was written
