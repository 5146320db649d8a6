"""Model pulls the backend runs for clients, with a stand-in for ``distill3d models pull --progress-json`` (a short Python
script that writes the same JSON lines), so each case is fast and exact; the real command is run end to end in
``test_model_pulls_e2e``."""

import sys
import textwrap
import time

import pytest

from backend.server.model_pulls import ModelPulls
from protocol.errors import ErrorCode, ProtocolError

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    roles = sys.argv[2:]
    mode = sys.argv[1]
    def tell(**event):
        print(json.dumps(event), flush=True)
    tell(event="say", text="licence: mit; token " + ("given" if os.environ.get("HF_TOKEN") else "none"))
    tell(event="planned", roles=roles, files=2, bytes=300)
    tell(event="file", role=roles[0], path="unet/weights.safetensors", size=200)
    tell(event="bytes", done=150)
    if mode == "hang":
        time.sleep(60)
    if mode == "fail":
        tell(event="failed", message="the hub refused it")
        sys.exit(1)
    if mode == "crash":
        print("Traceback: something broke", file=sys.stderr, flush=True)
        sys.exit(3)
    tell(event="bytes", done=300)
    tell(event="finished", present=roles, missing=[])
""")


def pulls(tmp_path, mode: str) -> ModelPulls:
    return ModelPulls(tmp_path / "logs" / "pull.log", command=(sys.executable, "-c", SCRIPT, mode))


def settled(pulls: ModelPulls, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while (info := pulls.current()).state == "running":
        assert time.monotonic() < deadline, info
        time.sleep(0.02)
    return info


def test_a_pull_runs_to_the_end_and_its_progress_is_read(tmp_path):
    p = pulls(tmp_path, "ok")
    assert p.current() is None
    started = p.start(["zero123", "clip", "zero123"], token="hf_secret")
    assert started.state == "running" and started.roles == ("zero123", "clip")
    info = settled(p)
    assert info.state == "succeeded" and info.error is None and info.pull_id == started.pull_id
    assert (info.files_total, info.files_started, info.bytes_total, info.bytes_done) == (2, 1, 300, 300)
    assert info.message == "licence: mit; token given" and info.finished_at >= info.started_at
    assert "hf_secret" not in (tmp_path / "logs" / "pull.log").read_text()


def test_one_pull_at_a_time_the_same_roles_again_answer_the_running_one_and_cancel_stops_it(tmp_path):
    p = pulls(tmp_path, "hang")
    first = p.start(["zero123"])
    deadline = time.monotonic() + 20
    while p.current().bytes_done < 150:  # the child is mid-file
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert p.start(["zero123"]).pull_id == first.pull_id
    with pytest.raises(ProtocolError) as busy:
        p.start(["clip"])
    assert busy.value.code is ErrorCode.BUSY and "already pulling zero123" in busy.value.message
    started = time.monotonic()
    asked = p.cancel()
    assert asked.cancel_requested and time.monotonic() - started < 0.5, "the broker's thread is not held up"
    cancelled = settled(p)
    assert cancelled.state == "cancelled" and cancelled.error is None and cancelled.bytes_done == 150
    with pytest.raises(ProtocolError) as none:
        p.cancel()
    assert none.value.code is ErrorCode.UNKNOWN_JOB
    assert p.start(["clip"]).pull_id != first.pull_id  # a new pull may start once the last one ended
    p.close()


@pytest.mark.parametrize(("mode", "words"), [("fail", "the hub refused it"), ("crash", "exited with status 3: Traceback: something broke")])
def test_a_failed_pull_says_why(tmp_path, mode, words):
    p = pulls(tmp_path, mode)
    p.start(["zero123"])
    info = settled(p)
    assert info.state == "failed" and info.error.code is ErrorCode.MISSING_MODEL and words in info.error.message
    assert "Traceback: something broke" in (tmp_path / "logs" / "pull.log").read_text() or mode != "crash"


def test_unknown_roles_are_refused_before_anything_starts(tmp_path):
    p = pulls(tmp_path, "ok")
    with pytest.raises(ProtocolError) as info:
        p.start(["zero123", "no_such_model"])
    assert info.value.code is ErrorCode.INVALID_PARAMS and "no_such_model" in info.value.message and p.current() is None


def test_a_command_that_cannot_start_is_an_error_not_a_crash(tmp_path):
    p = ModelPulls(tmp_path / "pull.log", command=(str(tmp_path / "no-such-program"),))
    with pytest.raises(ProtocolError) as info:
        p.start(["zero123"])
    assert info.value.code is ErrorCode.INTERNAL and "cannot start the pull" in info.value.message and p.current() is None


def test_a_child_that_ignores_the_interrupt_is_killed_after_the_grace(tmp_path, monkeypatch):
    from backend.server import model_pulls

    monkeypatch.setattr(model_pulls, "TERMINATE_GRACE_S", 0.5)
    deaf = ("import json, signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "print(json.dumps({'event': 'planned', 'files': 1, 'bytes': 9}), flush=True); time.sleep(60)")
    p = ModelPulls(tmp_path / "pull.log", command=(sys.executable, "-c", deaf))
    p.start(["zero123"])
    deadline = time.monotonic() + 20
    while p.current().bytes_total != 9:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p.cancel()
    assert settled(p, timeout=10).state == "cancelled"


def test_a_pull_that_ends_before_its_cancel_arrives_keeps_its_outcome(tmp_path):
    p = pulls(tmp_path, "ok")
    p.start(["zero123"])
    assert settled(p).state == "succeeded"
    with pytest.raises(ProtocolError) as late:
        p.cancel()
    assert late.value.code is ErrorCode.UNKNOWN_JOB and p.current().state == "succeeded"
