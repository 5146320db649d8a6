import math

import pytest
import torch

from backend.core.cameras import spherical_to_c2w
from backend.core.export import ExportConfig
from backend.teachers.synthetic.glb_io import export_scene, load_folder
from backend.teachers.synthetic.render import MeshObject, SceneObject, render_scene
from backend.teachers.synthetic.shapes import COLORS, Part, Pattern, Primitive, Scene


def front_camera(radius: float = 2.0) -> torch.Tensor:
    return spherical_to_c2w(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([radius]))


def test_sphere_render_covers_the_projected_disc_with_its_colour_depth_and_normals():
    radius, distance, fov, size = 0.5, 2.0, 49.1, 96
    scene = Scene((Part(Primitive.SPHERE, size=(radius,) * 3, color=COLORS["red"]),))
    out = render_scene(scene, front_camera(distance), fov, size, size)
    # silhouette of a sphere: a disc of angular radius asin(r/d)
    focal = size / 2 / math.tan(math.radians(fov) / 2)
    disc = math.pi * (focal * math.tan(math.asin(radius / distance))) ** 2
    assert out.mask.sum().item() == pytest.approx(disc, rel=0.03)
    centre = size // 2
    assert torch.allclose(out.rgb[0, centre, centre], torch.tensor(COLORS["red"]), atol=1e-6)
    assert torch.allclose(out.rgb[0, 0, 0], torch.ones(3))
    assert out.depth[0, centre, centre].item() == pytest.approx(distance - radius, abs=0.01)
    assert out.normals[0, centre, centre, 2].item() == pytest.approx(1.0, abs=0.02)  # faces the camera (+Z)


def test_stripes_are_crisp_and_shading_darkens_grazing_pixels():
    scene = Scene((Part(Primitive.CUBE, size=(0.4,) * 3, color=COLORS["red"], pattern=Pattern.STRIPES, color2=COLORS["white"], frequency=2.0),))
    flat = render_scene(scene, front_camera(), 49.1, 64, 64)
    colors = flat.rgb[0][flat.mask[0] > 0]
    red, white = torch.tensor(COLORS["red"]), torch.tensor(COLORS["white"])
    is_red = (colors - red).abs().amax(dim=-1) < 1e-5
    is_white = (colors - white).abs().amax(dim=-1) < 1e-5
    assert bool((is_red | is_white).all()) and is_red.any() and is_white.any()
    oblique = spherical_to_c2w(torch.tensor([30.0]), torch.tensor([40.0]), torch.tensor([2.0]))
    shaded = render_scene(scene, oblique, 49.1, 64, 64, shaded=True)
    unshaded = render_scene(scene, oblique, 49.1, 64, 64)
    covered = shaded.mask[0] > 0
    assert bool((shaded.rgb[0][covered] <= unshaded.rgb[0][covered] + 1e-6).all())
    assert (shaded.rgb[0][covered] < unshaded.rgb[0][covered] - 0.05).any()


def test_scene_survives_glb_export_and_loading(tmp_path):
    scene = Scene(
        (
            Part(Primitive.TORUS, (0.0, 0.2, 0.0), (0.5,) * 3, color=COLORS["red"], pattern=Pattern.STRIPES, frequency=3.0),
            Part(Primitive.CUBE, (0.0, -0.3, 0.0), (0.3,) * 3, yaw_deg=30.0, color=COLORS["blue"], pattern=Pattern.CHECKS),
        )
    )
    _, glb = export_scene(scene, ExportConfig(resolution=64, target_faces=4000))
    (tmp_path / "a.glb").write_bytes(glb)
    (loaded,) = load_folder(tmp_path)
    assert loaded.texture is not None and loaded.name == "a"
    c2w = spherical_to_c2w(torch.tensor([20.0, -5.0]), torch.tensor([30.0, 200.0]), torch.tensor([2.0, 2.0]))
    truth = SceneObject(scene).render(c2w, 49.1, 96, 96)
    again = loaded.render(c2w, 49.1, 96, 96)
    both, either = (truth.mask * again.mask).sum(), ((truth.mask + again.mask) > 0).sum()
    assert (both / either).item() > 0.97
    inside = (truth.mask * again.mask) > 0
    assert (truth.rgb[inside] - again.rgb[inside]).abs().mean().item() < 0.05
    points = torch.rand(1500, 3, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    agreement = (loaded.occupancy(points) == scene.occupancy(points)).float().mean().item()
    assert agreement > 0.98


def test_loading_garbage_glb_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read GLB"):
        MeshObject.from_glb(b"not a glb at all")
    with pytest.raises(ValueError, match="no .glb files"):
        load_folder(tmp_path)


def test_a_glb_coloured_by_its_material_factor_keeps_its_colour():
    import io

    import trimesh

    mesh = trimesh.creation.box(extents=(0.6, 0.6, 0.6))
    mesh.visual = trimesh.visual.TextureVisuals(material=trimesh.visual.material.PBRMaterial(baseColorFactor=[255, 0, 0, 255]))
    buffer = io.BytesIO()
    mesh.export(buffer, file_type="glb")
    loaded = MeshObject.from_glb(buffer.getvalue())
    assert torch.allclose(loaded.colors, torch.tensor([1.0, 0.0, 0.0]).expand(len(loaded.colors), 3))
