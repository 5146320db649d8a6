import subprocess
import sys

import pytest

from backend import methods
from backend.methods.spec import MethodSpec
from protocol.errors import ErrorCode, ProtocolError
from tests.support.servers import REPO

PLUGIN_DIST = """Metadata-Version: 2.1
Name: distill3d-test-plugin
Version: 0.1
"""


def test_plugins_register_methods():
    names = [e.name for e in methods.entries()]
    assert "testbed" in names and "probe" in names


def test_unknown_method_lists_known_ones():
    with pytest.raises(ProtocolError) as info:
        methods.get("nerf")
    assert info.value.code is ErrorCode.UNKNOWN_METHOD and "testbed" in info.value.message


def test_default_preset_must_exist():
    with pytest.raises(ValueError, match="default preset"):
        MethodSpec(name="x", description="", config_class=object, factory="a:b", presets={"fast": {}}, default_preset="paper")  # type: ignore[arg-type]


def test_factory_is_lazy():
    method = methods.create("testbed")
    assert hasattr(method, "run")


def test_listing_methods_imports_no_torch():
    code = "import sys, backend.cli; backend.cli.main(['methods', '--json']); print('torch' in sys.modules, file=sys.stderr)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "DISTILL3D_PLUGINS": "tests.support.testbed"})
    assert out.stderr.strip().endswith("False")
    assert '"name": "testbed"' in out.stdout


def test_only_interpolation_scrub_previews_are_transient():
    from backend.methods import is_transient_job

    assert is_transient_job("interpolate", {"quality": "preview", "generator": "demo"})
    assert not is_transient_job("interpolate", {"quality": "full"})
    assert not is_transient_job("variants", {"quality": "preview"}), "sampled variants are the artist's assets"
    assert not is_transient_job("no-such-method", {"quality": "preview"})


def test_every_method_folder_is_found_without_a_list():
    names = {spec.name for spec in methods.entries()}
    assert {"dtc123", "cad", "invert", "prd", "variants", "interpolate"} <= names
    folders = {p.parent.name for p in (REPO / "backend" / "methods").glob("*/spec.py")}
    assert folders == {"dtc123", "cad", "prd", "variants"}


def _listing(tmp_path, entry_points: str) -> subprocess.CompletedProcess:
    """``distill3d methods`` in a fresh process that sees an installed distribution with ``entry_points``."""
    dist = tmp_path / "site" / "distill3d_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(PLUGIN_DIST)
    (dist / "entry_points.txt").write_text(entry_points)
    env = {**__import__("os").environ, "PYTHONPATH": f"{tmp_path / 'site'}:{REPO}", "DISTILL3D_PLUGINS": ""}
    return subprocess.run([sys.executable, "-m", "backend.cli", "methods"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_a_method_from_a_test_folder_appears_through_the_entry_point_group(tmp_path):
    listing = _listing(tmp_path, "[distill3d.methods]\necho = tests.support.plugin_method:SPECS\n")
    assert listing.returncode == 0, listing.stderr
    assert "echo: Test-only plugin method" in listing.stdout and "--set repeats=2" in listing.stdout and "--shout" in listing.stdout
    assert "dtc123:" in listing.stdout, "the built-in methods are still there"


def test_a_broken_entry_point_is_skipped_and_reported(tmp_path):
    listing = _listing(tmp_path, "[distill3d.methods]\nbroken = tests.support.no_such_module:SPECS\n")
    assert listing.returncode == 0 and "dtc123:" in listing.stdout
    assert "entry point 'broken'" in listing.stderr and "ModuleNotFoundError" in listing.stderr


def test_register_takes_only_specs():
    with pytest.raises(TypeError, match="MethodSpec"):
        methods.register({"name": "x"})  # type: ignore[arg-type]
