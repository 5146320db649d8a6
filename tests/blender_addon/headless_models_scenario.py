"""An artist meets a method whose models are not on the backend, headless in real Blender (bpy): run by test_headless.py.

Usage: python headless_models_scenario.py CONNECTION_FILE. The backend pulls from a loopback hub that sends slowly (about
8 s for the student), so the download is seen under way. Prints one "step ..." line per step done; exits non-zero on any
problem.
"""

import importlib
import re
import sys

sys.modules["torch"] = None  # the add-on must never import torch

import bpy  # noqa: E402  (first: it puts Blender's own modules, e.g. addon_utils, on the path)
import addon_utils  # noqa: E402
from panel_drawing import draw_all  # noqa: E402
from scenario_steps import step, wait_until  # noqa: E402

MODULE = "blender_addon"
bpy.ops.wm.read_factory_settings(use_empty=True)
addon_utils.enable(MODULE, default_set=True)
blender_addon = importlib.import_module(MODULE)
runtime, panels = importlib.import_module(f"{MODULE}.runtime"), importlib.import_module(f"{MODULE}.panels")
sizes = importlib.import_module(f"{MODULE}.wire").sizes
prefs = bpy.context.preferences.addons[MODULE].preferences
settings = bpy.context.scene.distill3d


def wait_for(condition, what: str, timeout: float = 60.0):
    return wait_until(blender_addon.pump, condition, what, lambda: f"pull {runtime.session().pull}, message {settings.message!r}", timeout)


def models():
    return {m.role: m for m in runtime.session().models_for("prd", "paper")[1]}


prefs.connection_file = sys.argv[1]
bpy.ops.distill3d.connect()
wait_for(lambda: runtime.connection_state()[0] == "connected", "the connection", 30)
bpy.ops.distill3d.set_method(name="prd")
bpy.ops.distill3d.set_preset(name="demo")
wait_for(lambda: runtime.session().models, "the models to be listed")
shown = draw_all(panels)
demo = next(f for f in runtime.session().method("prd").footprints if f.preset == "demo")
assert "prd demo: needs no downloaded model" in shown and f"peak memory {sizes.human_size(demo.peak_bytes)}" in shown, shown
step("a preset without models says so, with its recorded memory and time")

bpy.ops.distill3d.set_preset(name="paper")
shown = draw_all(panels)
for words in ("stable_diffusion: missing, 2.6 GB", "prd_student: missing, 91.0 MB", "openrail++", "Download 2 models (about 2.7 GB)",
              "Memory and time of paper: not measured yet", "GPU memory: at least its models' weights, about 2.7 GB"):  # fmt: skip
    assert words in shown, (words, shown)
settings.prompt = "a red cube"
assert "FINISHED" in bpy.ops.distill3d.generate()
wait_for(lambda: "generate:" in settings.message, "the refusal")
assert "'stable_diffusion'" in settings.message and "about 2.6 GB to download, licence openrail++" in settings.message, settings.message
step("the refused job names its models with size and licence")

assert "FINISHED" in bpy.ops.distill3d.pull_models()
under_way = wait_for(lambda: (p := runtime.session().pull) is not None and p.state == "running" and p.current.startswith("prd_student")
                     and p.bytes_done >= 10 * 2**20 and p, "the student's first 10 MiB chunk")  # fmt: skip
shown = draw_all(panels)
assert "Downloading " in shown and "Stop Download" in shown and "prd_student: triplane_turbo_sd_v1.pth" in shown, shown
assert under_way.roles == ("stable_diffusion", "prd_student") and 0 < under_way.bytes_done < under_way.bytes_total, under_way
assert "FINISHED" in bpy.ops.distill3d.cancel_pull()
wait_for(lambda: runtime.session().pull.state == "cancelled", "the cancel")
wait_for(lambda: not runtime.session().pulling() and models()["prd_student"].state == "missing", "the listing after the cancel")
shown = draw_all(panels)
assert "Download 1 model (about 91.0 MB)" in shown, "the files fetched whole are kept; only the student is missing"
assert re.search(r"prd_student: missing, 91.0 MB \(\d+\.\d MB fetched\)", shown), shown
step("the download shows its progress and stops when cancelled")

assert "FINISHED" in bpy.ops.distill3d.pull_models()
wait_for(lambda: runtime.session().pull.state == "succeeded" and models()["prd_student"].state == "present", "the download", 90)
shown = draw_all(panels)
assert "stable_diffusion: present" in shown and "prd_student: present, 25.2 MB" in shown and "Download" not in shown, shown
step("downloaded again, every model is present")
print("scenario ok", flush=True)
