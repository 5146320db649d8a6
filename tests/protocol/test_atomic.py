"""Atomic writes: the old file or the new one, never half of one, and no temporary left behind."""

import json
import os
import stat

import pytest

from protocol.atomic import replacing, write_json


def test_json_replaces_the_file_whole_and_sets_the_mode(tmp_path):
    path = tmp_path / "state.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2, "é": "ü"}, indent=2, mode=0o600)
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": 2, "é": "ü"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        write_json(path, {"a": object()})
    with pytest.raises(OSError):
        with replacing(path) as temporary:
            temporary.write_text("half")
            raise OSError(28, "No space left on device")
    assert json.loads(path.read_text()) == {"a": 1} and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
