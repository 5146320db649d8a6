"""Talking to a backend by hand: raw ZeroMQ frames, signed or not, for the bad-input tests."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import zmq

from protocol.codec import pack
from protocol.connection import ConnectionInfo
from protocol.framing import VERSION_FRAME, Framer
from protocol.messages import Message
from protocol.transport import prove_key


def sign_raw(framer: Framer, header: dict[str, Any], body: bytes, *buffers: bytes) -> list[Any]:
    """Correctly signed frames around any header fields and body (missing header fields are filled in)."""
    fields = {
        "session": framer.session, "seq": next(framer._seq), "ts": time.time(),
        "digests": [hashlib.sha256(f).digest() for f in (body, *buffers)], **header,
    }
    header_bytes = pack(fields)
    return [VERSION_FRAME, framer.signer.sign(VERSION_FRAME, header_bytes), header_bytes, body, *buffers]


class RawPeer:
    """A DEALER socket plus a framer holding the backend's key."""

    def __init__(self, info: ConnectionInfo, *, rcvhwm: int = 1000) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, rcvhwm)
        if info.handshake_auth:
            prove_key(self.sock, info.key)
        self.sock.connect(info.url)
        self.framer = Framer(info.key)
        self._ids = 0

    def close(self) -> None:
        self.ctx.destroy(linger=0)

    def send_frames(self, frames: list[Any]) -> None:
        self.sock.send_multipart(frames, copy=False)

    def send(self, message: Message) -> tuple[str, list[Any]]:
        msg_id, frames = self.framer.encode(message)
        self.send_frames(frames)
        return msg_id, frames

    def signed_raw(self, type_: str, body: bytes, *buffers: bytes) -> tuple[str, list[Any]]:
        """Frames with a valid signature around an arbitrary (maybe broken) body."""
        self._ids += 1
        msg_id = f"raw{self._ids}"
        return msg_id, sign_raw(self.framer, {"type": type_, "id": msg_id}, body, *buffers)

    def recv(self, timeout: float = 5.0) -> list[bytes] | None:
        if not self.sock.poll(int(timeout * 1000)):
            return None
        return self.sock.recv_multipart()

    def recv_message(self, timeout: float = 5.0):
        """The next decodable message (skipping pushes), or None."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frames = self.recv(left)
            if frames is None:
                return None
            try:
                return self.framer.decode(frames)
            except Exception:
                continue
        return None

    def roundtrip(self, message: Message, timeout: float = 30.0):
        """Send and return the reply to exactly this message, skipping anything else that arrives first."""
        msg_id, _ = self.send(message)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            envelope = self.recv_message(left)
            if envelope is not None and envelope.header.re == msg_id:
                return envelope.message
        raise TimeoutError(f"no reply to {message.TYPE}")
