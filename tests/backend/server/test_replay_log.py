"""The replay log: state-changing messages remembered across restarts, for the replay window only."""

import pytest

from backend.server.replay_log import ReplayLog
from protocol.errors import FrameRejected
from protocol.framing import Header
from protocol.signing import ReplayGuard

NOW = 1_000_000.0


def header(session: str, seq: int, ts: float) -> Header:
    return Header(type="submit", id="a1", session=session, seq=seq, ts=ts, digests=())


def test_a_restarted_guard_refuses_what_was_recorded_inside_the_window(tmp_path):
    log = ReplayLog(tmp_path, clock=lambda: NOW)
    log.record(header("aa11", 7, NOW - 10))
    log.record(header("bb22", 3, NOW - 1000))  # older than the window: refused as stale anyway, not kept
    with open(log.path, "ab") as f:
        f.write(b'{"session": "cc')  # a torn last line
    guard = ReplayGuard(window_s=300, clock=lambda: NOW)
    assert log.restore(guard) == 1
    with pytest.raises(FrameRejected, match="replayed"):
        guard.check("aa11", 7, NOW - 10)
    guard.check("aa11", 8, NOW)  # the session's next message is fine
    assert log.path.read_bytes().count(b"\n") == 1, "the file keeps only what the window needs"


def test_without_a_file_nothing_is_restored(tmp_path):
    assert ReplayLog(tmp_path).restore(ReplayGuard()) == 0
