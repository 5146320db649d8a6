import subprocess
import sys

import pytest

from backend import methods
from protocol.errors import ErrorCode, ProtocolError


def test_plugins_register_methods():
    names = [e.name for e in methods.entries()]
    assert "testbed" in names and "probe" in names


def test_unknown_method_lists_known_ones():
    with pytest.raises(ProtocolError) as info:
        methods.get("nerf")
    assert info.value.code is ErrorCode.UNKNOWN_METHOD and "testbed" in info.value.message


def test_default_preset_must_exist():
    with pytest.raises(ValueError, match="default preset"):
        methods.MethodEntry(name="x", description="", config_class=object, factory="a:b", presets={"fast": {}}, default_preset="paper")  # type: ignore[arg-type]


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
