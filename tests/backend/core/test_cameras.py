import json
import math
import subprocess
import sys

import pytest
import torch

from backend.core.cameras import (
    c2w_to_spherical,
    get_rays,
    look_at,
    project,
    spherical_to_c2w,
    zero123_relative_pose,
)
from protocol.cameras import BlenderCamera, blender_vertical_fov, camera_from_blender

T = torch.tensor


def test_spherical_round_trip_and_conventions():
    elevation = T([0.0, 30.0, -45.0, 89.0, 10.0])
    azimuth = T([0.0, 90.0, 180.0, -120.0, 45.0])
    radius = T([2.0, 1.5, 3.0, 2.0, 2.0])
    c2w = spherical_to_c2w(elevation, azimuth, radius)
    e, a, r = c2w_to_spherical(c2w)
    assert torch.allclose(e, elevation, atol=1e-4) and torch.allclose(r, radius, atol=1e-5)
    assert torch.allclose(torch.remainder(a - azimuth + 180, 360) - 180, torch.zeros(5), atol=1e-3)
    front = spherical_to_c2w(T(0.0), T(0.0), T(2.0))
    assert torch.allclose(front[:3, 3], T([0.0, 0.0, 2.0]))  # azimuth 0 sees the +Z front
    assert torch.allclose(front[:3, 2], T([0.0, 0.0, 1.0]), atol=1e-6)  # looking along -Z
    side = spherical_to_c2w(T(0.0), T(90.0), T(2.0))
    assert torch.allclose(side[:3, 3], T([2.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(c2w[:, :3, :3] @ c2w[:, :3, :3].transpose(1, 2), torch.eye(3).expand(5, 3, 3), atol=1e-5)
    assert torch.allclose(torch.linalg.det(c2w[:, :3, :3]), torch.ones(5), atol=1e-5)


def test_look_at_straight_down_is_well_defined():
    c2w = look_at(T([0.0, 3.0, 0.0]))
    assert torch.isfinite(c2w).all() and torch.allclose(c2w[:3, 2], T([0.0, 1.0, 0.0]), atol=1e-6)


def test_points_project_where_they_should_and_rays_pass_through_them():
    c2w = spherical_to_c2w(T(20.0), T(35.0), T(2.0))
    fov, width, height = 49.1, 64, 48
    (origin_px,), depth = project(T([[0.0, 0.0, 0.0]]), c2w, fov, width, height)
    assert torch.allclose(origin_px, T([32.0, 24.0]), atol=1e-4) and torch.allclose(depth, T([2.0]), atol=1e-5)
    # a point one unit along the camera's right axis at the origin's depth lands focal pixels to the right
    focal = 0.5 * height / math.tan(math.radians(fov / 2))
    (right_px,), _ = project(c2w[:3, 0][None] * 0.5, c2w, fov, width, height)
    assert torch.allclose(right_px, T([32.0 + focal * 0.25, 24.0]), atol=1e-3)
    points = torch.rand(20, 3) - 0.5
    pixels, depth = project(points, c2w, fov, width, height)
    origins, directions = get_rays(c2w, fov, width, height)
    for point, (u, v), d in zip(points, pixels, depth):
        ui, vi = int(u), int(v)
        if 0 <= ui < width and 0 <= vi < height:
            ray_o, ray_d = origins[vi, ui], directions[vi, ui]
            along = torch.dot(point - ray_o, ray_d)
            miss = (ray_o + along * ray_d - point).norm()
            assert miss < 1.5 * d / focal  # within a pixel footprint at that depth


def test_zero123_conditioning():
    pose = zero123_relative_pose((T(30.0), T(180.0), T(2.0)), (T(0.0), T(270.0), T(2.5)))
    assert torch.allclose(pose, T([math.radians(30.0), 1.0, 0.0, 0.5]), atol=1e-6)


BLENDER_SCRIPT = r"""
import json, math, sys, bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector
cases = json.loads(sys.argv[1])
scene = bpy.context.scene
out = []
for case in cases:
    cam_data = bpy.data.cameras.new("c")
    cam_data.lens = case["lens"]; cam_data.sensor_width = case["sw"]; cam_data.sensor_height = case["sh"]; cam_data.sensor_fit = case["fit"]
    cam = bpy.data.objects.new("c", cam_data)
    scene.collection.objects.link(cam)
    cam.location = case["location"]; cam.rotation_euler = case["rotation"]; cam.scale = (1.3, 1.3, 1.3)
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y = case["res"]; scene.render.resolution_percentage = 100
    bpy.context.view_layer.update()
    projected = [list(world_to_camera_view(scene, cam, Vector(p))) for p in case["points"]]
    out.append({"matrix": [list(r) for r in cam.matrix_world], "projected": projected})
print("JSON" + json.dumps(out))
"""


@pytest.mark.slow
def test_blender_camera_projects_points_where_blender_does():
    torch.manual_seed(0)
    cases = []
    for fit, res in (("AUTO", (640, 480)), ("AUTO", (300, 500)), ("HORIZONTAL", (512, 256)), ("VERTICAL", (400, 600))):
        cases.append({
            "lens": 35.0 + 20 * torch.rand(1).item(), "sw": 36.0, "sh": 24.0, "fit": fit, "res": list(res),
            "location": [4.0, -5.0, 3.0], "rotation": [math.radians(63), 0.1, math.radians(38)],
            "points": (torch.rand(6, 3) - 0.5).tolist(),
        })
    result = subprocess.run([sys.executable, "-c", BLENDER_SCRIPT, json.dumps(cases)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    blender = json.loads(result.stdout.split("JSON", 1)[1])
    for case, seen in zip(cases, blender):
        w, h = case["res"]
        camera = BlenderCamera(tuple(map(tuple, seen["matrix"])), case["lens"], case["sw"], case["sh"], case["fit"], (w, h))
        c2w = T(camera_from_blender(camera)[1])  # the add-on's conversion, in this module's conventions
        fov = blender_vertical_fov(camera.lens_mm, camera.sensor_width_mm, camera.sensor_height_mm, camera.sensor_fit, w, h)
        points_blender = T(case["points"])
        points_ours = torch.stack([points_blender[:, 0], points_blender[:, 2], -points_blender[:, 1]], dim=-1)
        pixels, depth = project(points_ours, c2w, fov, w, h)
        expected = T([[x * w, (1 - y) * h] for x, y, _ in seen["projected"]])
        assert torch.allclose(pixels, expected, atol=1e-2), (case["fit"], pixels, expected)
        assert torch.allclose(depth, T([z for _, _, z in seen["projected"]]), atol=1e-4)
