"""The Generate panel's inputs in real Blender (bpy 5.0.1): input images from each source, the scene camera."""

import subprocess
import sys

from tests.support.servers import REPO

SCRIPT = r"""
import io, math, sys, tempfile
from pathlib import Path
from types import SimpleNamespace
import bpy, mathutils, numpy as np
from PIL import Image
from blender_addon import job_spec

folder = Path(tempfile.mkdtemp())
pixels = np.zeros((8, 12, 3), np.uint8); pixels[:4] = (255, 0, 0)  # red top half
Image.fromarray(pixels).save(folder / "ref.png")
context = bpy.context

def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

# a file on disk, as it is
settings = SimpleNamespace(image_source="FILE", image_file=str(folder / "ref.png"), image=None)
data, name = job_spec.input_image(settings, context)
assert name == "ref.png" and data == (folder / "ref.png").read_bytes()
settings.image_file = str(folder / "missing.png")
try:
    job_spec.input_image(settings, context); raise AssertionError("a missing file was accepted")
except ValueError as exc:
    assert "does not exist" in str(exc)

# a datablock loaded from that file: the file's bytes, not a re-encode
loaded = bpy.data.images.load(str(folder / "ref.png"))
data, name = job_spec.input_image(SimpleNamespace(image_source="DATABLOCK", image=loaded), context)
assert data == (folder / "ref.png").read_bytes()

# a generated (painted) datablock: encoded as PNG, rows the right way up
painted = bpy.data.images.new("painted", 12, 8, alpha=False)
rgba = np.ones((8, 12, 4), np.float32); rgba[..., :3] = pixels[::-1] / 255.0
painted.pixels.foreach_set(rgba.ravel())
data, name = job_spec.input_image(SimpleNamespace(image_source="DATABLOCK", image=painted), context)
assert name == "painted.png" and np.array_equal(decoded(data), pixels)

# no datablock chosen, no editor open (no windows under bpy as a module)
assert job_spec.input_image(SimpleNamespace(image_source="DATABLOCK", image=None), context) is None
try:
    job_spec.input_image(SimpleNamespace(image_source="EDITOR"), context); raise AssertionError("no editor, yet an image")
except ValueError as exc:
    assert "Image Editor" in str(exc)

# the scene camera, converted: Blender (x, y, z) is ours (x, z, -y); azimuth from +Z towards +X
scene = context.scene
scene.camera = None  # the startup scene has one
try:
    job_spec.camera(SimpleNamespace(camera_source="SCENE"), scene); raise AssertionError("no camera, yet a pose")
except ValueError as exc:
    assert "no active camera" in str(exc)
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
scene.collection.objects.link(cam); scene.camera = cam
cam.data.lens, cam.data.sensor_width, cam.data.sensor_fit = 50.0, 36.0, "AUTO"
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 1920, 1080, 50
elevation, azimuth, distance = math.radians(30), math.radians(90), 3.0
# ours: (d cos e sin a, d sin e, d cos e cos a) → Blender (x, -z, y)
ours = (distance * math.cos(elevation) * math.sin(azimuth), distance * math.sin(elevation), distance * math.cos(elevation) * math.cos(azimuth))
cam.location = (ours[0], -ours[2], ours[1])
cam.rotation_mode = "QUATERNION"
cam.rotation_quaternion = (-mathutils.Vector(cam.location)).to_track_quat("-Z", "Y")
context.view_layer.update()
wire, warning = job_spec.camera(SimpleNamespace(camera_source="SCENE"), scene)
assert abs(wire.elevation_deg - 30) < 1e-3 and abs(wire.azimuth_deg - 90) < 1e-3 and abs(wire.distance - 3) < 1e-5, wire
assert abs(wire.fov_deg - math.degrees(2 * math.atan(18 * 1080 / 1920 / 50))) < 1e-3 and warning == ""
cam.rotation_quaternion = mathutils.Vector((0, 0, 1)).to_track_quat("-Z", "Y")  # looking straight up, away from the object
context.view_layer.update()
_, warning = job_spec.camera(SimpleNamespace(camera_source="SCENE"), scene)
assert "away from the origin" in warning
wire, _ = job_spec.camera(SimpleNamespace(camera_source="MANUAL", elevation=10.0, azimuth=-45.0, distance=2.5, fov=40.0), scene)
assert (wire.elevation_deg, wire.azimuth_deg, wire.distance, wire.fov_deg) == (10.0, -45.0, 2.5, 40.0)
assert job_spec.camera(SimpleNamespace(camera_source="NONE"), scene) == (None, "")
print("ok")
"""


def test_input_images_and_the_scene_camera_become_the_job_spec():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
