"""Messages ⇄ signed multipart frames.

A message is the frames ``[version, signature, header, body, *buffers]``:

- ``version``: ``b"D3DP"`` + one byte major + one byte minor (checked first, so a
  peer on another major gets a clear ``unsupported_version`` error);
- ``signature``: see :mod:`protocol.signing`; covers every other frame;
- ``header``: msgpack map ``{type, id, session, seq, ts, re}`` (:class:`Header`);
- ``body``: msgpack map of the message's fields, bulk data replaced by buffer references;
- ``buffers``: raw bytes (blobs, little-endian arrays).

Nothing is unpacked before the signature verifies and the message is not a replay.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .buffers import Blob, WireArray, as_byte_view
from .codec import CodecError, pack, unpack
from .errors import ErrorCode, FrameRejected
from .limits import DEFAULT_LIMITS, Limits
from .messages import ID_PATTERN, PROTOCOL_VERSION, Message, parse_message
from .schema import Record, SchemaError, from_plain, param, to_plain
from .signing import ReplayGuard, Signer

MAGIC = b"D3DP"
VERSION_FRAME = MAGIC + bytes(PROTOCOL_VERSION)
SIGNATURE_INDEX = 1
FIRST_BUFFER_INDEX = 4


@dataclass(frozen=True)
class Header(Record):
    type: str = param(doc="Message type (wire name).", max_len=64)
    id: str = param(doc="Random id of this message; replies name it in ``re``.", pattern=ID_PATTERN)
    session: str = param(doc="Random id of the sending endpoint instance.", pattern=ID_PATTERN)
    seq: int = param(doc="Grows with every message the session sends.", ge=0)
    ts: float = param(doc="Sender's clock, seconds since the epoch.")
    re: str | None = param(None, doc="For replies: the id of the request.", pattern=ID_PATTERN)


@dataclass(frozen=True)
class Envelope:
    """A received, verified and decoded message."""

    header: Header
    message: Message


def new_id() -> str:
    return secrets.token_hex(8)


class Framer:
    """Encodes outgoing messages and decodes incoming ones for one endpoint (thread-safe encode)."""

    def __init__(
        self,
        key: bytes,
        limits: Limits = DEFAULT_LIMITS,
        *,
        replay_window_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = Signer(key)
        self.limits = limits
        self.replay = ReplayGuard(replay_window_s, clock)
        self.session = new_id()
        self._seq = itertools.count(1)
        self._clock = clock

    # ------------------------------------------------------------------ encode

    def encode(self, message: Message, *, re: str | None = None, msg_id: str | None = None) -> tuple[str, list[Any]]:
        """``(id, frames)`` for ``message``; ``re`` is the request id when this is a reply."""
        msg_id = msg_id or new_id()
        header = Header(type=message.TYPE, id=msg_id, session=self.session, seq=next(self._seq), ts=self._clock(), re=re)
        buffers: list[Blob | WireArray] = []
        body = pack(to_plain(message, buffers))
        frames: list[Any] = [VERSION_FRAME, b"", pack(to_plain(header)), body]
        digests: list[bytes | None] = [None, None, None]
        for buf in buffers:
            frames.append(buf.view)
            digests.append(buf.sha256 if isinstance(buf, Blob) else None)
        signed = [frames[0], *frames[2:]]
        frames[SIGNATURE_INDEX] = self.signer.sign(signed, digests)
        return msg_id, frames

    # ------------------------------------------------------------------ decode

    def decode(self, frames: Sequence[Any]) -> Envelope:
        """Verify and decode; raises :class:`FrameRejected` (see its ``reply`` flag)."""
        views = self._check_shape(frames)
        signed = [views[0], *views[2:]]
        if not self.signer.verify(views[SIGNATURE_INDEX].tobytes(), signed):
            raise FrameRejected(ErrorCode.BAD_SIGNATURE, "signature does not verify", reply=False)
        header = self._decode_header(views[2])
        self.replay.check(header.session, header.seq, header.ts)
        try:
            body = unpack(views[3], self.limits)
        except CodecError as exc:
            raise FrameRejected(ErrorCode.BAD_MESSAGE, f"body: {exc}", request_id=header.id) from None
        buffers = views[FIRST_BUFFER_INDEX:]
        try:
            message = parse_message(header.type, body, buffers)
        except KeyError:
            raise FrameRejected(
                ErrorCode.UNKNOWN_TYPE, f"unknown message type {header.type!r}", request_id=header.id
            ) from None
        except SchemaError as exc:
            raise FrameRejected(ErrorCode.INVALID_PARAMS, f"{header.type}: {exc}", request_id=header.id) from None
        return Envelope(header, message)

    def _check_shape(self, frames: Sequence[Any]) -> list[memoryview]:
        limits = self.limits
        if len(frames) > limits.max_frames:
            raise FrameRejected(ErrorCode.TOO_LARGE, f"{len(frames)} frames, at most {limits.max_frames} allowed")
        if len(frames) < FIRST_BUFFER_INDEX:
            raise FrameRejected(ErrorCode.BAD_FRAME, f"{len(frames)} frames, a message has at least {FIRST_BUFFER_INDEX}")
        views = [as_byte_view(f) for f in frames]
        version = views[0]
        if version.nbytes != len(VERSION_FRAME) or version[:4] != MAGIC:
            raise FrameRejected(ErrorCode.BAD_FRAME, "not a Distill3D message (bad magic)")
        major, minor = version[4], version[5]
        if major != PROTOCOL_VERSION[0]:
            raise FrameRejected(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol {major}.{minor} is not supported; this side speaks {PROTOCOL_VERSION[0]}.x "
                f"(newest {PROTOCOL_VERSION[0]}.{PROTOCOL_VERSION[1]})",
            )
        if views[2].nbytes > limits.max_header_bytes:
            raise FrameRejected(ErrorCode.TOO_LARGE, f"header is {views[2].nbytes} bytes, limit {limits.max_header_bytes}")
        if views[3].nbytes > limits.max_body_bytes:
            raise FrameRejected(ErrorCode.TOO_LARGE, f"body is {views[3].nbytes} bytes, limit {limits.max_body_bytes}")
        for i, view in enumerate(views[FIRST_BUFFER_INDEX:]):
            if view.nbytes > limits.max_buffer_bytes:
                raise FrameRejected(
                    ErrorCode.TOO_LARGE, f"buffer {i} is {view.nbytes} bytes, limit {limits.max_buffer_bytes}"
                )
        total = sum(v.nbytes for v in views)
        if total > limits.max_message_bytes:
            raise FrameRejected(ErrorCode.TOO_LARGE, f"message is {total} bytes, limit {limits.max_message_bytes}")
        return views

    def _decode_header(self, view: memoryview) -> Header:
        try:
            return from_plain(Header, unpack(view, self.limits))
        except (CodecError, SchemaError) as exc:
            raise FrameRejected(ErrorCode.BAD_MESSAGE, f"header: {exc}") from None
