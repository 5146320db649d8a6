"""Sending to ROUTER peers without ever blocking on one of them.

The ROUTER socket runs with ``ROUTER_MANDATORY``, so a send to a peer whose
queue is full fails with EAGAIN instead of blocking or silently dropping, and a
send to a vanished peer fails with EHOSTUNREACH. A full peer's messages wait in
a small overflow of its own (bounded in messages and bytes); beyond that they
are dropped and counted. Other peers are never held up.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from typing import Any

import zmq

log = logging.getLogger(__name__)


def _size(frames: list[Any]) -> int:
    return sum(len(f) if isinstance(f, (bytes, bytearray)) else memoryview(f).nbytes for f in frames)


class Outbox:
    def __init__(self, sock: zmq.Socket, *, max_messages: int = 64, max_bytes: int = 16 << 20) -> None:
        self.sock = sock
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._overflow: dict[bytes, deque[tuple[list[Any], int]]] = {}
        self._overflow_bytes: dict[bytes, int] = {}
        self.gone: set[bytes] = set()
        """Peers found disconnected since the owner last cleared this set."""
        self.dropped = 0

    @property
    def has_backlog(self) -> bool:
        return bool(self._overflow)

    def backlogged(self, peer: bytes) -> bool:
        return peer in self._overflow

    def send(self, peer: bytes, frames: list[Any]) -> bool:
        """Send or queue ``frames`` to ``peer``; False when the peer is gone or its overflow is full."""
        if peer in self._overflow:
            return self._queue(peer, frames)
        outcome = self._try(peer, frames)
        if outcome == "again":
            return self._queue(peer, frames)
        return outcome == "sent"

    def flush(self) -> None:
        """Retry every peer's overflow in order, stopping at the first message that still does not fit."""
        for peer in list(self._overflow):
            queue = self._overflow[peer]
            while queue:
                frames, size = queue[0]
                outcome = self._try(peer, frames)
                if outcome == "again":
                    break
                queue.popleft()
                self._overflow_bytes[peer] -= size
            if not queue or peer in self.gone:
                self._overflow.pop(peer, None)
                self._overflow_bytes.pop(peer, None)

    def _try(self, peer: bytes, frames: list[Any]) -> str:
        try:
            self.sock.send_multipart([peer, *frames], zmq.NOBLOCK, copy=False)
            return "sent"
        except zmq.Again:
            return "again"
        except zmq.ZMQError as exc:
            if exc.errno == errno.EHOSTUNREACH:
                self.gone.add(peer)
                return "gone"
            raise

    def _queue(self, peer: bytes, frames: list[Any]) -> bool:
        queue = self._overflow.setdefault(peer, deque())
        size = _size(frames)
        used = self._overflow_bytes.get(peer, 0)
        if len(queue) >= self.max_messages or used + size > self.max_bytes:
            self.dropped += 1
            log.warning("peer %s is not reading; dropped a message of %d bytes", peer.hex(), size)
            return False
        queue.append((frames, size))
        self._overflow_bytes[peer] = used + size
        return True
