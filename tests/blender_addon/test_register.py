"""The add-on inside real Blender (bpy 5.0.1), imported from the source tree with torch blocked."""

import subprocess
import sys

from tests.support.servers import REPO

SCRIPT = """
import sys
sys.modules["torch"] = None  # any `import torch` now fails
import bpy
import blender_addon
from blender_addon.preferences import Distill3DPreferences
for _ in range(2):
    blender_addon.register()
    assert Distill3DPreferences.is_registered
    blender_addon.unregister()
    assert not Distill3DPreferences.is_registered
print("ok", sorted(m for m in sys.modules if m.startswith("blender_addon")))
"""


def test_registers_and_unregisters_twice_without_torch():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout and "blender_addon.preferences" in result.stdout
