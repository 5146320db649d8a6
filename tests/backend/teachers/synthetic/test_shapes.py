import math

import numpy as np
import pytest
import torch

from backend.teachers.synthetic.shapes import COLORS, Part, Pattern, Primitive, Scene, unit_mesh, unit_sdf


@pytest.mark.parametrize("shape", list(Primitive))
def test_unit_mesh_lies_on_its_sdf_and_faces_outwards(shape):
    import trimesh

    vertices, faces = unit_mesh(shape)
    assert np.abs(unit_sdf(shape, torch.from_numpy(vertices)).numpy()).max() < 1e-4
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    assert mesh.is_watertight and mesh.volume > 0


@pytest.mark.parametrize(
    "shape, volume",
    [
        (Primitive.SPHERE, 4 / 3 * math.pi),
        (Primitive.CUBE, 8.0),
        (Primitive.TORUS, 2 * math.pi**2 * 0.7 * 0.3**2),
        (Primitive.CYLINDER, 2 * math.pi),
        (Primitive.CONE, 2 * math.pi / 3),
    ],
)
def test_occupancy_volume_matches_the_formula(shape, volume):
    points = torch.rand(200_000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    estimate = 8.0 * (unit_sdf(shape, points) < 0).float().mean().item()
    assert estimate == pytest.approx(volume, rel=0.03)


def test_part_transform_round_trips_and_scales_the_sdf():
    part = Part(Primitive.SPHERE, center=(0.2, -0.1, 0.3), size=(0.5, 0.5, 0.5), yaw_deg=37.0)
    local = np.random.default_rng(0).uniform(-1, 1, (50, 3))
    back = part.to_local(torch.from_numpy(part.to_world(local)))
    assert np.allclose(back.numpy(), local, atol=1e-6)
    assert part.sdf(torch.tensor([[0.2, -0.1, 0.3 + 0.75]], dtype=torch.float64)).item() == pytest.approx(0.25)


def test_patterns():
    local = torch.tensor([[0.0, -0.9, 0.0], [0.0, -0.4, 0.0], [0.1, -0.9, 0.0], [0.6, -0.9, 0.0]])
    red, white = COLORS["red"], COLORS["white"]
    stripes = Part(Primitive.CUBE, color=red, pattern=Pattern.STRIPES, color2=white, frequency=1.0).albedo(local)
    assert torch.allclose(stripes[0], torch.tensor(red)) and torch.allclose(stripes[1], torch.tensor(red))  # one band per unit
    checks = Part(Primitive.CUBE, color=red, pattern=Pattern.CHECKS, color2=white, frequency=2.0).albedo(local)
    assert torch.allclose(checks[2], checks[0]) and not torch.allclose(checks[3], checks[0])
    # a cube face lying exactly on local x = 1 keeps one colour
    face = torch.tensor([[1.0, 0.3, 0.3], [1.0 - 1e-6, 0.3, 0.3], [1.0 + 1e-6, 0.3, 0.3]])
    colors = Part(Primitive.CUBE, pattern=Pattern.CHECKS, frequency=2.0).albedo(face)
    assert torch.allclose(colors, colors[:1].expand(3, 3))


def test_scene_union_centering_and_albedo():
    a = Part(Primitive.SPHERE, center=(0.0, 0.5, 0.0), size=(0.3,) * 3, color=COLORS["red"])
    b = Part(Primitive.CUBE, center=(0.0, 0.0, 0.0), size=(0.2,) * 3, color=COLORS["blue"])
    scene = Scene((a, b))
    inside = torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.0, 0.0], [0.25, 0.21, 0.0]])
    assert scene.occupancy(inside).tolist() == [True, True, False]
    assert torch.allclose(scene.albedo(inside[:2]), torch.tensor([COLORS["red"], COLORS["blue"]]))
    lo, hi = scene.centered().bounds()
    assert np.allclose(lo + hi, 0.0, atol=1e-6)
    with pytest.raises(ValueError):
        Scene(())
