"""HMAC-SHA256 signatures, and replay protection.

A message's signature is ``HMAC-SHA256(key, version_frame || header_frame)``; the
header carries the SHA-256 of every other frame (body and buffers), so the
signature covers every frame while a receiver can refuse a forged message after
hashing a few hundred bytes, before touching bulk data. A sender that already
knows a frame's digest (a stored result chunk) does not hash it again.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Callable

from .errors import ErrorCode, FrameRejected

SIGNATURE_SCHEME = "hmac-sha256"
SIGNATURE_BYTES = 32
MIN_KEY_BYTES = 16


class Signer:
    """Signs and verifies the (version, header) pair with one shared key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"signing keys are at least {MIN_KEY_BYTES} bytes")
        self._key = bytes(key)

    def sign(self, version: bytes, header: bytes) -> bytes:
        return hmac.new(self._key, bytes(version) + bytes(header), hashlib.sha256).digest()

    def verify(self, signature: bytes, version: bytes, header: bytes) -> bool:
        """Constant-time check of ``signature``."""
        return len(signature) == SIGNATURE_BYTES and hmac.compare_digest(self.sign(version, header), signature)


class ReplayGuard:
    """Refuses messages seen before, and messages too old to tell.

    Each sender signs a random ``session`` id and a ``seq`` that grows with every
    message. Per session the guard keeps the highest seq and a bitmap of the
    ``window`` seqs below it (the anti-replay window of RFC 4303): a seq seen
    before, or older than the window, is a replay; moderate reordering is fine.
    Sessions idle longer than ``2 * window_s`` are forgotten, so messages whose
    timestamp is more than ``window_s`` away from this clock are refused too.
    """

    def __init__(self, window_s: float = 300.0, clock: Callable[[], float] = time.time, window: int = 1024) -> None:
        self.window_s = window_s
        self.window = window
        self._clock = clock
        self._sessions: dict[str, tuple[int, int, float]] = {}
        self._next_prune = 0.0

    def check(self, session: str, seq: int, ts: float, request_id: str | None = None) -> None:
        """Accept (and remember) or raise :class:`FrameRejected`.

        A replay is dropped silently; a stale timestamp is answered (``clock_skew``,
        naming ``request_id``) so that a client with a wrong clock learns why.
        """
        now = self._clock()
        if abs(now - ts) > self.window_s:
            raise FrameRejected(
                ErrorCode.CLOCK_SKEW,
                f"the message's timestamp is {ts - now:+.0f} s from the receiver's clock "
                f"(at most ±{self.window_s:.0f} s): set both clocks right",
                request_id=request_id,
                reason="stale",
            )
        highest, seen, _ = self._sessions.get(session, (0, 0, now))
        if seq > highest:
            shift = seq - highest
            seen = 1 if shift >= self.window else ((seen << shift) | 1) & ((1 << self.window) - 1)
            highest = seq
        else:
            offset = highest - seq
            if offset >= self.window or (seen >> offset) & 1:
                raise FrameRejected(
                    ErrorCode.BAD_SIGNATURE,
                    f"replayed message (session {session}, seq {seq}, newest {highest})",
                    reply=False,
                    reason="replayed",
                )
            seen |= 1 << offset
        self._sessions[session] = (highest, seen, now)
        if now >= self._next_prune:
            self._prune(now)

    def remember(self, session: str, seq: int, ts: float) -> bool:
        """Mark a message as seen without judging it (what a restarted receiver reloads); False, and nothing kept, when
        its timestamp is outside the window (it would be refused as stale anyway)."""
        try:
            self.check(session, seq, ts)
        except FrameRejected as exc:
            return exc.reason == "replayed"  # seen already counts as remembered
        return True

    def _prune(self, now: float) -> None:
        horizon = now - 2 * self.window_s
        for session in [s for s, (_, _, last) in self._sessions.items() if last < horizon]:
            del self._sessions[session]
        self._next_prune = now + self.window_s / 4

    @property
    def sessions(self) -> int:
        return len(self._sessions)
