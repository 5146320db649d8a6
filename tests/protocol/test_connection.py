import json
import os
import stat

import pytest

from protocol.connection import (
    ConnectionFileError,
    ConnectionInfo,
    default_data_dir,
    read_connection_file,
    write_connection_file,
)


def test_written_file_is_private_and_reads_back(tmp_path):
    info = ConnectionInfo(url="tcp://127.0.0.1:5757", key=os.urandom(32), server_public_key="x" * 40, pid=42)
    path = tmp_path / "sub" / "connection.json"
    write_connection_file(path, info)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_connection_file(path) == info


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        (json.dumps({"url": "nowhere", "key": "00" * 32}), "url"),
        (json.dumps({"url": "tcp://h:1", "key": "zz"}), "hex"),
        (json.dumps({"url": "tcp://h:1", "key": "00" * 4}), "16 bytes"),
        (json.dumps({"url": "tcp://h:1", "key": "00" * 32, "signature_scheme": "md5"}), "scheme"),
        (json.dumps({"url": "tcp://h:1", "key": "00" * 32, "server_public_key": "short"}), "Z85"),
    ],
)
def test_malformed_files_give_readable_errors(tmp_path, content, words):
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConnectionFileError, match=words):
        read_connection_file(path)


def test_missing_file_says_how_to_get_one(tmp_path):
    with pytest.raises(ConnectionFileError, match="distill3d serve"):
        read_connection_file(tmp_path / "absent.json")


def test_world_readable_file_warns(tmp_path, caplog):
    path = tmp_path / "c.json"
    write_connection_file(path, ConnectionInfo(url="tcp://h:1", key=b"k" * 16))
    path.chmod(0o644)
    read_connection_file(path)
    assert "readable by other users" in caplog.text


def test_data_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTILL3D_DATA_DIR", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("DISTILL3D_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "distill3d"
