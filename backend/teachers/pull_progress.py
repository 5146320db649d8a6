"""A model pull's progress as JSON lines: written by ``distill3d models pull --progress-json``, read by the backend that
started that command for a client (:mod:`backend.server.model_pulls`).

One JSON object per line, ``event`` naming it:

- ``{"event": "say", "text": ...}``: a line the pull would print (the licence, the file being fetched);
- ``{"event": "planned", "roles": [...], "files": N, "bytes": B}``: the files and bytes still to fetch, after the disk
  space check;
- ``{"event": "file", "role": ..., "path": ..., "size": S}``: a file starts downloading;
- ``{"event": "bytes", "done": D}``: bytes of the pull fetched so far (at most every :data:`BYTES_INTERVAL_S`);
- ``{"event": "finished", "present": [...], "missing": [...]}`` or ``{"event": "failed", "message": ...}``: the end.

Both ends live here so the format has one definition. Torch-free.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from .pull import Plan, RemoteFile

BYTES_INTERVAL_S = 0.25
"""Least seconds between two ``bytes`` lines (the last bytes of a file are always told, with the next file or the end)."""


class JsonLinesWatcher:
    """A :class:`~.pull.Watcher` that writes the events above to ``out`` (flushed per line)."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.clock = clock
        self._completed = 0
        """Bytes of the files fetched whole."""
        self._current: RemoteFile | None = None
        self._received = 0
        """Bytes of the current file so far."""
        self._told_at = float("-inf")

    def _write(self, **event: Any) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    @property
    def done(self) -> int:
        return self._completed + max(0, min(self._received, self._current.size if self._current else 0))

    def _close_file(self) -> None:
        if self._current is not None:
            self._completed += self._current.size
            self._current, self._received = None, 0
            self._write(event="bytes", done=self._completed)

    def say(self, text: str) -> None:
        self._write(event="say", text=text)

    def planned(self, plans: list[Plan]) -> None:
        self._write(event="planned", roles=[p.role.role for p in plans], files=sum(len(p.missing) for p in plans),
                    bytes=sum(p.missing_bytes for p in plans))  # fmt: skip

    def fetching(self, plan: Plan, file: RemoteFile) -> None:
        self._close_file()
        self._current = file
        self._write(event="file", role=plan.role.role, path=file.path, size=file.size)

    def received(self, nbytes: int) -> None:
        self._received += nbytes
        now = self.clock()
        if now - self._told_at >= BYTES_INTERVAL_S:
            self._told_at = now
            self._write(event="bytes", done=self.done)

    def finished(self, present: list[str], missing: list[str]) -> None:
        self._close_file()
        self._write(event="finished", present=present, missing=missing)

    def failed(self, message: str) -> None:
        self._write(event="failed", message=message)


@dataclass
class PullProgress:
    """What a pull has done so far, as its lines tell it (:meth:`read` one line at a time)."""

    files_total: int = 0
    """Files to fetch (those not on disk when the pull started)."""
    files_started: int = 0
    """Files whose download has begun (the current one included)."""
    bytes_total: int = 0
    """Bytes to fetch."""
    bytes_done: int = 0
    """Bytes fetched so far."""
    current: str = ""
    """``role: path`` of the file being fetched."""
    message: str = ""
    """The last line the pull said."""
    failure: str | None = None
    """Why it failed, when it said so."""
    finished: bool = False
    """It reported its end (``finished``)."""
    missing: list[str] = field(default_factory=list)
    """Roles still not usable after a finished pull."""
    unreadable: int = 0
    """Lines that were not events of this format (counted, otherwise ignored: a library may print to stdout)."""

    def read(self, line: str) -> None:
        try:
            event = json.loads(line)
            kind = event["event"]
        except (ValueError, TypeError, KeyError):
            self.unreadable += 1
            return
        try:
            if kind == "say":
                self.message = str(event["text"])
            elif kind == "planned":
                self.files_total, self.bytes_total = int(event["files"]), int(event["bytes"])
            elif kind == "file":
                self.files_started += 1
                self.current = f"{event['role']}: {event['path']}"
            elif kind == "bytes":
                self.bytes_done = max(0, int(event["done"]))
            elif kind == "finished":
                self.finished, self.current = True, ""
                self.missing = [str(role) for role in event.get("missing", [])]
            elif kind == "failed":
                self.failure = str(event["message"])
            else:
                self.unreadable += 1
        except (KeyError, TypeError, ValueError):
            self.unreadable += 1
