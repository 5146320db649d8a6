"""The Footprint record on MethodInfo, and the out_of_memory code: older peers' messages still parse."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode
from protocol.messages import Footprint, MethodInfo
from protocol.schema import SchemaError, from_plain, to_plain

INFO = {"name": "m", "description": "d", "presets": ["tiny"], "default_preset": "tiny", "params": []}


def test_a_method_info_without_footprints_parses_to_none_recorded():
    assert from_plain(MethodInfo, INFO).footprints == ()


def test_footprints_survive_the_wire():
    row = Footprint(preset="tiny", device="cuda", peak_bytes=3 * 2**30, seconds=12.5, projected=True, note="n")
    info = from_plain(MethodInfo, {**INFO, "footprints": [to_plain(row)]})
    assert info.footprints == (row,) and from_plain(MethodInfo, to_plain(info)) == info


@pytest.mark.parametrize("bad", [{"peak_bytes": -1}, {"seconds": -0.5}, {"preset": "../x"}])
def test_a_bad_footprint_is_refused(bad):
    plain = {"preset": "tiny", "device": "cpu", "peak_bytes": 1, "seconds": 1.0, **bad}
    with pytest.raises(SchemaError):
        from_plain(MethodInfo, {**INFO, "footprints": [plain]})


def test_out_of_memory_is_a_known_code():
    assert ErrorCode("out_of_memory") is ErrorCode.OUT_OF_MEMORY
