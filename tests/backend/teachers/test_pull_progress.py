"""The JSON lines of a pull's progress: what ``--progress-json`` writes is what the backend reads back."""

import io
import json
from pathlib import Path

from backend.teachers import registry
from backend.teachers.pull import Plan, RemoteFile
from backend.teachers.pull_progress import BYTES_INTERVAL_S, JsonLinesWatcher, PullProgress


def plan(role: str, *sizes: int) -> Plan:
    files = tuple(RemoteFile(f"file{i}", size) for i, size in enumerate(sizes))
    spec = registry.ROLES[role]
    return Plan(role=spec, repo_id=spec.default, local_dir=None, cache_dir=Path("/cache"), files=files, missing=files,
                licence=spec.licence, gated=spec.gated)  # fmt: skip


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_reader_follows_what_the_writer_told_through_files_retries_and_the_end():
    out, clock = io.StringIO(), Clock()
    watcher = JsonLinesWatcher(out, clock)
    sd, turbo = plan("stable_diffusion", 100, 300), plan("prd_student", 50)
    watcher.say("stable_diffusion: licence openrail++")
    watcher.planned([sd, turbo])
    watcher.fetching(sd, sd.files[0])
    watcher.received(40)  # told: the first bytes line is never held back
    watcher.received(60)  # held back: within the interval
    watcher.fetching(sd, sd.files[1])  # the finished file is told whole
    clock.now += BYTES_INTERVAL_S
    watcher.received(500)  # more than the file's size (a retry counted twice): capped at its size
    clock.now += BYTES_INTERVAL_S
    watcher.received(-450)  # a retry that starts the file over
    watcher.fetching(turbo, turbo.files[0])
    watcher.finished(["stable_diffusion"], ["prd_student"])
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["done"] for e in events if e["event"] == "bytes"] == [40, 100, 400, 150, 400, 450]
    progress = PullProgress()
    for line in out.getvalue().splitlines(keepends=True):
        progress.read(line)
    assert (progress.files_total, progress.files_started, progress.bytes_total, progress.bytes_done) == (3, 3, 450, 450)
    assert progress.finished and progress.missing == ["prd_student"] and progress.current == "" and progress.unreadable == 0
    assert progress.message == "stable_diffusion: licence openrail++"


def test_a_failure_is_read_and_lines_of_another_format_are_counted_not_fatal():
    out = io.StringIO()
    JsonLinesWatcher(out).failed("the hub refused it")
    progress = PullProgress()
    for line in ["Downloading...\n", "[1, 2]\n", '{"event": "bytes"}\n', '{"event": "bytes", "done": "x"}\n', '{"event": "new-kind"}\n',
                 '{"no": "event"}\n', *out.getvalue().splitlines()]:  # fmt: skip
        progress.read(line)
    assert progress.failure == "the hub refused it" and progress.unreadable == 6 and not progress.finished
