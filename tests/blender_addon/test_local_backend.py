"""The backend the add-on starts itself: command parsing, start, readiness, failure reasons, stop."""

import shlex
import sys
import time

import pytest

from blender_addon.local_backend import LocalBackend
from protocol.connection import read_connection_file
from tests.support.servers import REPO


def _wait_for(backend: LocalBackend, wanted: str, timeout_s: float = 60.0) -> tuple[str, str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = backend.state()
        if state[0] == wanted:
            return state
        time.sleep(0.1)
    raise AssertionError(f"still {backend.state()} after {timeout_s} s")


@pytest.mark.parametrize("command, message", [("", "empty"), ("python 'unclosed", "cannot parse")])
def test_a_bad_command_is_refused_with_the_reason(tmp_path, command, message):
    with pytest.raises(ValueError, match=message):
        LocalBackend(command, tmp_path / "connection.json")


def test_a_missing_program_names_the_command(tmp_path):
    backend = LocalBackend("/nonexistent/distill3d serve", tmp_path / "connection.json")
    with pytest.raises(OSError, match="/nonexistent/distill3d"):
        backend.start()
    assert backend.state() == ("exited", "not started")


def test_a_backend_that_dies_at_start_reports_its_exit_code_and_last_words(tmp_path):
    script = "import sys; print('no CUDA here, giving up'); sys.exit(3)"
    backend = LocalBackend(f"{shlex.quote(sys.executable)} -c {shlex.quote(script)}", tmp_path / "connection.json")
    backend.start()
    state, reason = _wait_for(backend, "exited")
    assert "code 3" in reason and "giving up" in reason


@pytest.mark.slow
def test_starts_a_real_backend_waits_for_its_fresh_connection_file_and_stops_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    connection_file = tmp_path / "data" / "connection.json"
    connection_file.parent.mkdir()
    connection_file.write_text('{"stale": true}')  # left over from an earlier run: not "running" because of it
    backend = LocalBackend(f"{shlex.quote(sys.executable)} -m backend.cli serve --bind tcp://127.0.0.1:0", connection_file)
    backend.start()
    assert backend.state()[0] == "starting"
    _wait_for(backend, "running")
    assert read_connection_file(connection_file).pid == backend.proc.pid
    backend.stop()
    assert backend.proc.returncode is not None
    assert backend.state()[0] == "exited"
    log = backend.log_path.read_text()
    assert "listening on" in log and "server stopped" in log, "a clean stop, not a kill"
