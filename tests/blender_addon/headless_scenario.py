"""The artist's session, headless in real Blender (bpy), against a live backend: run by test_headless.py.

Usage: python headless_scenario.py CONNECTION_FILE OUT_DIR [EXTENSION_ZIP]. With a zip, the built
extension is installed into Blender and driven instead of the source tree. Exits non-zero (with
the failed assertion) on any problem; prints one "step ..." line per step done.
"""

import importlib
import json
import os
import re
import socket
import sys
from pathlib import Path

sys.modules["torch"] = None  # the add-on must never import torch

import bpy  # noqa: E402  (first: it puts Blender's own modules, e.g. addon_utils, on the path)
import addon_utils  # noqa: E402
import numpy as np  # noqa: E402
from panel_drawing import draw_all  # noqa: E402
from scenario_steps import step, wait_until  # noqa: E402

connection_file, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
extension_zip = Path(sys.argv[3]) if len(sys.argv) > 3 else None
out_dir.mkdir(parents=True, exist_ok=True)


def wait_for(condition, what: str, timeout: float = 60.0):
    return wait_until(blender_addon.pump, condition, what, lambda: f"state {runtime.connection_state()}, message {bpy.context.scene.distill3d.message!r}", timeout)


def entry(job_id: str):
    return next((j for j in bpy.context.scene.distill3d.jobs if j.job_id == job_id), None)


def new_job(before: set[str]):
    return wait_for(lambda: next((j for j in bpy.context.scene.distill3d.jobs if j.job_id not in before), None), "the job to be recorded")


def job_ids() -> set[str]:
    return {j.job_id for j in bpy.context.scene.distill3d.jobs}


# ------------------------------------------------------------------ connect
bpy.ops.wm.read_factory_settings(use_empty=True)
if extension_zip is not None:
    installed = bpy.ops.extensions.package_install_files(filepath=str(extension_zip), repo="user_default", enable_on_install=True)
    assert installed == {"FINISHED"}, installed
    MODULE = "bl_ext.user_default.distill3d"
else:
    MODULE = "blender_addon"
    addon_utils.enable(MODULE, default_set=True)
blender_addon = importlib.import_module(MODULE)  # after enabling, which imports it
apply, runtime = importlib.import_module(f"{MODULE}.apply"), importlib.import_module(f"{MODULE}.runtime")
panels = importlib.import_module(f"{MODULE}.panels")
assert (extension_zip is not None) == (f"{MODULE}.protocol.client" in sys.modules), "the extension runs its vendored protocol"
prefs = bpy.context.preferences.addons[MODULE].preferences
settings = bpy.context.scene.distill3d

prefs.connection_file = str(out_dir / "missing.json")
bpy.ops.distill3d.connect()
state, reason = runtime.connection_state()
assert state == "offline" and "missing.json" in reason, (state, reason)
shown = draw_all(panels)
assert "Offline" in shown and "missing.json" in shown and "Connect to list the backend's methods" in shown, shown

with socket.socket() as probe_socket:  # a port nobody listens on
    probe_socket.bind(("127.0.0.1", 0))
    dead_port = probe_socket.getsockname()[1]
dead = json.loads(connection_file.read_text())
dead["url"] = f"tcp://127.0.0.1:{dead_port}"
(out_dir / "dead.json").write_text(json.dumps(dead))
(out_dir / "dead.json").chmod(0o600)
prefs.connection_file = str(out_dir / "dead.json")
bpy.ops.distill3d.connect()
wait_for(lambda: "refused" in runtime.connection_state()[1], "a refused connection", 15)
assert runtime.connection_state()[0] == "offline"
before = set(bpy.data.objects)
assert "CANCELLED" in bpy.ops.distill3d.generate(), "generating while offline is refused, not raised"
assert settings.message, "and says why"
step("offline states are readable")

prefs.connection_file = str(connection_file)
bpy.ops.distill3d.connect()
wait_for(lambda: runtime.connection_state()[0] == "connected", "the connection", 30)
methods = {m.name for m in runtime.session().methods("generate")}
assert "testbed" in methods and "variants" not in methods, methods
shown = draw_all(panels)
assert "Connected" in shown and "testbed" in shown.splitlines(), shown
step("connected")

# ----------------------------------------------------------------- generate
bpy.ops.distill3d.set_method(name="testbed")
assert {p.name for p in settings.params} >= {"steps", "noise.scale"}
next(p for p in settings.params if p.name == "steps").value = "12"
settings.extra_params = json.dumps({"step_seconds": 0.05, "preview_every": 2})
settings.seed, settings.prompt = 7, "a textured tetrahedron"
settings.image_source, settings.camera_source = "NONE", "MANUAL"
settings.elevation = 30.0
bpy.context.scene.cursor.location = (0.0, 0.0, 0.0)
before = job_ids()
assert "FINISHED" in bpy.ops.distill3d.generate()
job = new_job(before)
saw_progress = wait_for(lambda: runtime.session().jobs[job.job_id].info.progress is not None and entry(job.job_id).state == "running", "progress")
wait_for(lambda: bpy.data.images.get(apply.PREVIEW_IMAGE) is not None, "a preview datablock")
settings.show_params = True
shown = draw_all(panels)
assert re.search(r"^\S+ \d+/12", shown, re.M) or f"Job {job.job_id}: succeeded" in shown, shown  # progress bar, or done already
assert "<icon " in shown, "the live preview is drawn in the panel"
preview = bpy.data.images[apply.PREVIEW_IMAGE]
assert tuple(preview.size) == (64, 64), tuple(preview.size)
wait_for(lambda: entry(job.job_id).imported, "the import", 60)
assert len([i for i in bpy.data.images if i.name.startswith(apply.PREVIEW_IMAGE)]) == 1, "one preview datablock, updated in place"
obj = next(o for o in bpy.data.objects if o.get("distill3d_job") == job.job_id)
mesh = obj.data
assert (len(mesh.vertices), len(mesh.polygons)) == (12, 4), (len(mesh.vertices), len(mesh.polygons))
assert "UVMap" in mesh.uv_layers and obj.users_collection[0].name == "Distill3D"
image = mesh.materials[0].node_tree.nodes["Image Texture"].image
assert image.packed_file is not None and tuple(image.size) == (32, 32)
assert obj["distill3d_method"] == "testbed" and obj["distill3d_seed"] == 7
assert json.loads(obj["distill3d_params"])["steps"] == 12
assert json.loads(obj["distill3d_metadata"])["elevation"] == 30.0
step(f"generated and imported {obj.name}")

# ------------------------------------------------------------------- cancel
settings.extra_params = json.dumps({"steps": 2000, "step_seconds": 0.05})
before = job_ids()
bpy.ops.distill3d.generate()
long_job = new_job(before)
wait_for(lambda: entry(long_job.job_id).state == "running", "the long job to run")
bpy.ops.distill3d.cancel()
wait_for(lambda: entry(long_job.job_id).state == "cancelled", "the cancel", 30)
step("cancelled")

# --------------------------------------------------- re-attach from a .blend
settings.extra_params = json.dumps({"steps": 30, "step_seconds": 0.1})
before = job_ids()
bpy.ops.distill3d.generate()
reattach_id = new_job(before).job_id
blend = out_dir / "scene.blend"
bpy.ops.wm.save_as_mainfile(filepath=str(blend))
runtime.disconnect()  # Blender "quits" while the job runs
bpy.ops.wm.open_mainfile(filepath=str(blend))
settings = bpy.context.scene.distill3d
assert entry(reattach_id) is not None and not entry(reattach_id).imported
bpy.ops.distill3d.connect()
wait_for(lambda: entry(reattach_id).imported, "the re-attached job's import", 60)
step("re-attached after reopening the .blend")

# ----------------------------------------------------------------- variants
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
settings.generator, settings.variant_count, settings.variant_quality, settings.truncation = "demo", 4, "full", 1.0
bpy.context.scene.cursor.location = (0.0, 0.0, 0.0)
before = job_ids()
bpy.ops.distill3d.sample_variants()
variants_job = new_job(before)
wait_for(lambda: entry(variants_job.job_id).imported, "the variants", 120)
variants = sorted((o for o in bpy.data.objects if o.get("distill3d_job") == variants_job.job_id), key=lambda o: o["distill3d_variant"])
assert len(variants) == 4, [o.name for o in variants]
locations = {tuple(round(c, 3) for c in o.location) for o in variants}
assert len(locations) == 4 and len({loc[0] for loc in locations}) == 2 and len({loc[1] for loc in locations}) == 2, locations
latents = [np.asarray(o["distill3d_latent"]) for o in variants]
assert len({len(latent) for latent in latents}) == 1 and not np.allclose(latents[0], latents[1])
step(f"variants: {[o.name for o in variants]}")

# ------------------------------------------------------------ interpolation
settings.interp_a, settings.interp_b = variants[0], variants[1]
settings.interp_t = 0.0
preview_obj = wait_for(lambda: bpy.data.objects.get(apply.INTERPOLATION_OBJECT), "the interpolation preview", 60)
first_mesh = preview_obj.data
first = np.array([v.co[:] for v in first_mesh.vertices])
assert np.allclose(preview_obj["distill3d_latent"], latents[0]), "t = 0 is variant A"
settings.interp_t = 1.0
wait_for(lambda: preview_obj.get("distill3d_t") == 1.0, "the preview at t = 1", 60)
assert preview_obj.data == first_mesh, "the mesh data is replaced in place"
moved = np.array([v.co[:] for v in preview_obj.data.vertices])
assert np.allclose(preview_obj["distill3d_latent"], latents[1]), "t = 1 is variant B"
assert len(moved) != len(first) or not np.allclose(moved, first), "and the preview mesh changed"
for t in np.linspace(0.1, 0.6, 12):  # a fast scrub: debounced, ends on the last value
    settings.interp_t = float(t)
    blender_addon.pump(0.0)
wait_for(lambda: abs(preview_obj.get("distill3d_t", -1) - 0.6) < 1e-6, "the scrub to settle on t = 0.6", 60)
assert np.allclose(preview_obj["distill3d_latent"], 0.4 * latents[0] + 0.6 * latents[1], atol=1e-5)
bpy.context.scene.cursor.location = (preview_obj.location.x + 1.8, preview_obj.location.y, 0.0)
before = job_ids()
bpy.ops.distill3d.interpolate_keep()
keep = new_job(before)
wait_for(lambda: entry(keep.job_id).imported, "the kept interpolation", 120)
kept = next(o for o in bpy.data.objects if o.get("distill3d_job") == keep.job_id)
assert kept.name.startswith("Interpolation t=0.60") and kept.data.materials[0].node_tree.nodes["Image Texture"].image.packed_file
step("interpolation scrubbed and kept")

# ---------------------------------------------------- PRD: prompt only, variants, interpolation
prd_generator = os.environ["DISTILL3D_TEST_PRD_GENERATOR"]
bpy.ops.distill3d.set_method(name="prd")
shown = draw_all(panels)
assert "Image Source" not in shown and "Camera Source" not in shown and "Prompt" in shown, shown
settings.image_source, settings.camera_source = "EDITOR", "SCENE"  # hidden, and ignored: PRD takes neither
settings.prompt, settings.extra_params = "a red cube", json.dumps({"generator": prd_generator})
before = job_ids()
assert "FINISHED" in bpy.ops.distill3d.generate(), settings.message
prd_job = new_job(before)
wait_for(lambda: entry(prd_job.job_id).imported, "the PRD mesh", 120)
prd_obj = next(o for o in bpy.data.objects if o.get("distill3d_job") == prd_job.job_id)
assert prd_obj["distill3d_method"] == "prd" and prd_obj["distill3d_generator"] == prd_generator
assert len(prd_obj["distill3d_condition"]) == int(np.prod(prd_obj["distill3d_condition_shape"])) and len(prd_obj.data.polygons) > 0
step(f"PRD made {prd_obj.name} from a prompt")
settings.generator, settings.variant_count, settings.variant_quality, settings.prompt = prd_generator, 2, "preview", "a blue torus"
before = job_ids()
bpy.ops.distill3d.sample_variants()
prd_variants_job = new_job(before)
wait_for(lambda: entry(prd_variants_job.job_id).imported, "the PRD variants", 120)
prd_variants = sorted((o for o in bpy.data.objects if o.get("distill3d_job") == prd_variants_job.job_id), key=lambda o: o["distill3d_variant"])
assert len(prd_variants) == 2 and not np.allclose(prd_variants[0]["distill3d_latent"], prd_variants[1]["distill3d_latent"])
assert not np.allclose(prd_variants[0]["distill3d_condition"], prd_obj["distill3d_condition"]), "the variants' prompt is theirs"
settings.interp_a, settings.interp_b = prd_obj, prd_variants[0]
settings.interp_t = 0.5
wait_for(lambda: abs(bpy.data.objects[apply.INTERPOLATION_OBJECT].get("distill3d_t", -1) - 0.5) < 1e-6, "the PRD interpolation at t = 0.5", 120)
step("PRD variants under a prompt, and the slider between a red cube and a blue torus")

# ------------------------------------------------------------------- render
scene = bpy.context.scene
camera_data = bpy.data.cameras.new("Camera")
camera = bpy.data.objects.new("Camera", camera_data)
scene.collection.objects.link(camera)
scene.camera = camera
centre = np.mean([o.location[:] for o in bpy.data.objects if o.type == "MESH"], axis=0)
camera.location = (centre[0], centre[1] - 7.0, centre[2] + 4.0)
direction = centre - np.asarray(camera.location)
camera.rotation_euler = (float(np.arctan2(np.hypot(direction[0], direction[1]), -direction[2])), 0.0, float(np.arctan2(direction[0], -direction[1])) + np.pi)
camera.rotation_euler[2] = float(np.arctan2(-direction[0], direction[1]))
scene.render.engine = "BLENDER_WORKBENCH"
scene.display.shading.color_type = "TEXTURE"
scene.display.shading.light = "STUDIO"
scene.render.resolution_x, scene.render.resolution_y = 640, 480
scene.render.filepath = str(out_dir / "imported.png")  # textured variants, the (vertex-coloured, grey here) preview, the kept mesh
bpy.ops.render.render(write_still=True)
assert (out_dir / "imported.png").stat().st_size > 10_000
step(f"rendered {out_dir / 'imported.png'}")

addon_utils.disable(MODULE, default_set=True)
print("scenario ok", flush=True)
