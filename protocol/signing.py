"""HMAC-SHA256 signatures over every frame, and replay protection.

The signature of a message is ``HMAC-SHA256(key, sha256(f_0) || sha256(f_2) || …)``
over the SHA-256 digests of all its frames except the signature frame ``f_1``,
in order. Hashing frames first lets a sender sign a stored chunk whose digest it
computed once when the chunk was written, instead of hashing bulk data on every
send; the receiver always hashes what it received.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Callable, Sequence

from .buffers import as_byte_view
from .errors import ErrorCode, FrameRejected

SIGNATURE_SCHEME = "hmac-sha256"
SIGNATURE_BYTES = 32
MIN_KEY_BYTES = 16


class Signer:
    """Signs and verifies frame lists with one shared key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"signing keys are at least {MIN_KEY_BYTES} bytes")
        self._key = bytes(key)

    def sign(self, frames: Sequence[Any], digests: Sequence[bytes | None] | None = None) -> bytes:
        """Signature of ``frames`` (all frames but the signature); ``digests[i]``, when given, is sha256(frames[i])."""
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for i, frame in enumerate(frames):
            known = digests[i] if digests is not None and i < len(digests) else None
            mac.update(known if known is not None else hashlib.sha256(as_byte_view(frame)).digest())
        return mac.digest()

    def verify(self, signature: bytes, frames: Sequence[Any]) -> bool:
        """True when ``signature`` is the signature of ``frames``; constant-time comparison."""
        if len(signature) != SIGNATURE_BYTES:
            return False
        return hmac.compare_digest(self.sign(frames), signature)


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

    def check(self, session: str, seq: int, ts: float) -> None:
        """Accept (and remember) or raise :class:`FrameRejected` with ``reply=False``."""
        now = self._clock()
        if abs(now - ts) > self.window_s:
            raise FrameRejected(
                ErrorCode.BAD_SIGNATURE,
                f"message timestamp is {now - ts:+.0f} s from this clock (window {self.window_s:.0f} s)",
                reply=False,
                reason="stale",
            )
        highest, seen, _ = self._sessions.get(session, (0, 0, now))
        if seq > highest:
            seen = ((seen << (seq - highest)) | 1) & ((1 << self.window) - 1)
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

    def _prune(self, now: float) -> None:
        horizon = now - 2 * self.window_s
        for session in [s for s, (_, _, last) in self._sessions.items() if last < horizon]:
            del self._sessions[session]
        self._next_prune = now + self.window_s / 4

    @property
    def sessions(self) -> int:
        return len(self._sessions)
