"""Replays across restarts: the messages that change state, remembered on disk for the replay window.

The replay guard (:class:`protocol.signing.ReplayGuard`) lives in memory, so a captured signed ``submit`` sent again
after a restart, inside the timestamp window, would make a second job. The broker appends the (session, seq, time) of
every accepted ``submit`` and ``cancel`` to ``DATA/replay-guard.jsonl`` (fsynced before the request is handled); a
starting server feeds the records still inside the window back into its guard and drops the rest from the file.
Read-only requests are not recorded: a replay of one changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable

from protocol.atomic import append_record, write_bytes
from protocol.framing import Header
from protocol.signing import ReplayGuard

log = logging.getLogger(__name__)

FILE_NAME = "replay-guard.jsonl"


class ReplayLog:
    """``DATA/replay-guard.jsonl``: one JSON line ``{"session", "seq", "ts"}`` per state-changing message accepted."""

    def __init__(self, data_dir: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = data_dir / FILE_NAME
        self._clock = clock

    def restore(self, guard: ReplayGuard) -> int:
        """Feed the records inside ``guard``'s window into it and rewrite the file with only those; how many."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return 0
        kept: list[bytes] = []
        horizon = self._clock() - guard.window_s
        for line in lines:
            try:
                record = json.loads(line)
                session, seq, ts = str(record["session"]), int(record["seq"]), float(record["ts"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line
            if ts >= horizon and guard.remember(session, seq, ts):
                kept.append(line)
        write_bytes(self.path, b"".join(line + b"\n" for line in kept))
        if kept:
            log.info("replay guard: %d state-changing messages from before the restart are refused if sent again", len(kept))
        return len(kept)

    def record(self, header: Header) -> None:
        """Append one accepted message, durably (raises ``OSError`` when it cannot: the request must then be refused)."""
        line = json.dumps({"session": header.session, "seq": header.seq, "ts": header.ts}).encode() + b"\n"
        append_record(self.path, line, mode=0o600, durable=True)
