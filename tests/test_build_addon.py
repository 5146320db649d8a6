"""``python build_addon.py``: the extension zip as Blender receives it, installed into real Blender (bpy 5.0.1)."""

import ast
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import build_addon
from tests.support.prd import prd_generator
from tests.support.servers import REPO

pytestmark = pytest.mark.slow

INSTALL = """
import sys, bpy
result = bpy.ops.extensions.package_install_files(filepath=sys.argv[-1], repo="user_default", enable_on_install=True)
name = "bl_ext.user_default.distill3d"
assert result == {"FINISHED"}, result
assert name in bpy.context.preferences.addons.keys(), "not enabled"
print("connection_file=" + bpy.context.preferences.addons[name].preferences.connection_file)
print("vendored=" + str(name + ".protocol.connection" in sys.modules))
print("torch=" + str("torch" in sys.modules))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_addon.build(tmp_path_factory.mktemp("dist"), REPO / ".cache" / "addon-wheels")


def test_manifest_and_wheels(built):
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
    assert (manifest["id"], manifest["type"], manifest["blender_version_min"]) == ("distill3d", "add-on", "4.2.0")
    assert "network" in manifest["permissions"]
    assert {"__init__.py", "preferences.py", "wire.py", "protocol/__init__.py", "protocol/client.py"} <= names
    listed = {wheel.removeprefix("./") for wheel in manifest["wheels"]}
    assert listed == {name for name in names if name.endswith(".whl")}, "every listed wheel is in the zip, and only those"
    pins = build_addon.pinned_versions()
    for package, version in pins.items():
        for python in ("cp311", "cp312-abi3" if package == "pyzmq" else "cp313"):
            for platform in ("manylinux", "win_amd64", "win_arm64", "macosx"):
                assert any(w.startswith(f"wheels/{package}-{version}-{python}") and platform in w for w in listed), (package, python, platform)
            for arch in ("x86_64", "aarch64"):
                assert any(w.startswith(f"wheels/{package}-{version}-{python}") and "manylinux" in w and arch in w for w in listed), (package, python, arch)
    assert not any("torch" in name or "numpy" in name for name in names)


def test_nothing_in_the_zip_imports_torch_or_the_backend(built):
    with zipfile.ZipFile(built) as archive:
        for name in (n for n in archive.namelist() if n.endswith(".py")):
            tree = ast.parse(archive.read(name), filename=name)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules = [node.module or ""]
                else:
                    continue
                assert not any(m.split(".")[0] in ("torch", "backend", "diffusers") for m in modules), f"{name} imports {modules}"


def test_installs_and_enables_in_blender(built, tmp_path):
    env = {"BLENDER_USER_RESOURCES": str(tmp_path / "blender"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", INSTALL, str(built)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"connection_file={tmp_path}/.local/share/distill3d/connection.json" in result.stdout
    assert "vendored=True" in result.stdout and "torch=False" in result.stdout
    site = tmp_path / "blender" / "extensions" / ".local" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (site / "zmq").is_dir() and (site / "msgpack").is_dir(), "Blender installed this platform's wheels"


def test_the_installed_zip_runs_the_artists_session_against_a_live_backend(built, server, tmp_path):
    """The judged path: the freshly built zip, installed into Blender, driven through the headless scenario."""
    artifacts = Path(os.environ.get("DISTILL3D_TEST_ARTIFACTS", REPO / "test-artifacts")) / "blender_extension"
    env = {"BLENDER_USER_RESOURCES": str(tmp_path / "blender"), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "DISTILL3D_TEST_PRD_GENERATOR": str(prd_generator(tmp_path / "prd-student"))}
    scenario = REPO / "tests" / "blender_addon" / "headless_scenario.py"
    result = subprocess.run(
        [sys.executable, str(scenario), str(server.connection_file), str(artifacts), str(built)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0 and "scenario ok" in result.stdout, result.stdout[-3000:] + result.stderr[-5000:]
    assert (artifacts / "imported.png").stat().st_size > 10_000
