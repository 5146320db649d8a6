"""Messages ⇄ signed multipart frames.

A message is the frames ``[version, signature, header, body, *buffers]``:

- ``version``: ``b"D3DP"`` + one byte major + one byte minor (checked first, so a
  peer on another major gets a clear ``unsupported_version`` error);
- ``signature``: HMAC-SHA256 of version + header (see :mod:`protocol.signing`);
- ``header``: msgpack map ``{type, id, session, seq, ts, re, digests}``
  (:class:`Header`); ``digests`` are the SHA-256 of the body and each buffer, so
  the signature covers every frame;
- ``body``: msgpack map of the message's fields, bulk data replaced by buffer references;
- ``buffers``: raw bytes (blobs, little-endian arrays).

A receiver checks sizes, the version, the signature (a few hundred bytes of
HMAC), the replay window, then the digests of the body and buffers, and only
then unpacks the body: a forged or replayed message costs almost nothing and is
never unpacked.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .buffers import Blob, WireArray, as_byte_view
from .codec import CodecError, pack, unpack
from .errors import ErrorCode, FrameRejected, ProtocolError
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
    seq: int = param(doc="Grows with every message the session sends.", ge=0, le=2**63 - 1)
    ts: float = param(doc="Sender's clock, seconds since the epoch.")
    digests: tuple[bytes, ...] = param(doc="SHA-256 of the body and of each buffer frame, in order.", max_len=64)
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
        """``(id, frames)`` for ``message``; ``re`` is the request id when this is a reply.

        Raises :class:`ProtocolError` ``too_large`` when the message exceeds this side's limits.
        """
        msg_id = msg_id or new_id()
        buffers: list[Blob | WireArray] = []
        body = pack(to_plain(message, buffers))
        payload: list[Any] = [body, *(b.view for b in buffers)]
        self._check_outgoing(message, payload)
        digests = [hashlib.sha256(body).digest()]
        for buf in buffers:
            known = buf.sha256 if isinstance(buf, Blob) else None
            digests.append(known if known is not None else hashlib.sha256(buf.view).digest())
        header = pack(to_plain(Header(
            type=message.TYPE, id=msg_id, session=self.session, seq=next(self._seq), ts=self._clock(),
            digests=tuple(digests), re=re,
        )))
        return msg_id, [VERSION_FRAME, self.signer.sign(VERSION_FRAME, header), header, *payload]

    def _check_outgoing(self, message: Message, payload: list[Any]) -> None:
        limits = self.limits
        sizes = [memoryview(p).nbytes for p in payload]
        problem = None
        if len(payload) + 3 > limits.max_frames:
            problem = f"{len(payload) - 1} buffers (at most {limits.max_frames - 4})"
        elif sizes[0] > limits.max_body_bytes:
            problem = f"a body of {sizes[0]} bytes (at most {limits.max_body_bytes})"
        elif max(sizes[1:], default=0) > limits.max_buffer_bytes:
            problem = f"a buffer of {max(sizes[1:])} bytes (at most {limits.max_buffer_bytes})"
        elif sum(sizes) > limits.max_message_bytes:
            problem = f"{sum(sizes)} bytes in all (at most {limits.max_message_bytes})"
        if problem:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"{message.TYPE} would carry {problem}")

    # ------------------------------------------------------------------ decode

    def decode(self, frames: Sequence[Any]) -> Envelope:
        """Verify and decode; raises :class:`FrameRejected` (see its ``reply`` flag)."""
        views = self._check_shape(frames)
        version, signature, header_view = views[0], views[SIGNATURE_INDEX], views[2]
        if not self.signer.verify(signature.tobytes(), version, header_view):
            raise FrameRejected(ErrorCode.BAD_SIGNATURE, "signature does not verify", reply=False)
        header = self._decode_header(header_view)
        self.replay.check(header.session, header.seq, header.ts, header.id)
        payload = views[3:]
        if len(header.digests) != len(payload) or any(
            not hmac.compare_digest(hashlib.sha256(view).digest(), digest) for view, digest in zip(payload, header.digests)
        ):
            raise FrameRejected(ErrorCode.BAD_SIGNATURE, "a frame does not match its signed digest", reply=False, reason="bad_digest")
        try:
            body = unpack(views[3], self.limits)
        except CodecError as exc:
            raise FrameRejected(ErrorCode.BAD_MESSAGE, f"body: {exc}", request_id=header.id) from None
        buffers = views[FIRST_BUFFER_INDEX:]
        try:
            message = parse_message(header.type, body, buffers)
        except KeyError:
            raise FrameRejected(
                ErrorCode.UNKNOWN_TYPE, f"unknown message type {header.type[:64]!r}", request_id=header.id
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
