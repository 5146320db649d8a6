"""Typed errors shared by both ends of the wire.

Every request gets exactly one reply; when it cannot be served, the reply is an
``error`` message carrying one of these codes and a sentence a person can act on.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(str, enum.Enum):
    """What went wrong, as a stable machine-readable code."""

    BAD_FRAME = "bad_frame"
    """The multipart message is not shaped like a Distill3D message (magic, frame count)."""
    TOO_LARGE = "too_large"
    """A frame, the message or a decoded value exceeds a size limit."""
    UNSUPPORTED_VERSION = "unsupported_version"
    """The peer speaks a protocol major version this side does not."""
    BAD_SIGNATURE = "bad_signature"
    """The HMAC did not verify: the two sides use different keys (diagnostic only)."""
    CLOCK_SKEW = "clock_skew"
    """The message's timestamp is too far from the receiver's clock to rule out a replay."""
    BAD_MESSAGE = "bad_message"
    """The header or body does not decode (msgpack, UTF-8, nesting, types)."""
    UNKNOWN_TYPE = "unknown_type"
    """The message type is not one this side handles."""
    INVALID_PARAMS = "invalid_params"
    """A field is missing, has the wrong type or is out of range."""
    UNKNOWN_METHOD = "unknown_method"
    """The job names a method the backend does not have."""
    UNKNOWN_PARAMETER = "unknown_parameter"
    """The job sets a parameter the method's config does not have."""
    UNKNOWN_PRESET = "unknown_preset"
    """The job names a preset the method does not have."""
    INVALID_IMAGE = "invalid_image"
    """The input image is not a decodable image, or is too large."""
    UNKNOWN_JOB = "unknown_job"
    """No job with this id exists in the backend's store."""
    UNKNOWN_ITEM = "unknown_item"
    """The job's result has no item with this name, or no such chunk."""
    NOT_READY = "not_ready"
    """The job has no result (yet): it is queued, running, failed or cancelled."""
    QUEUE_FULL = "queue_full"
    """The backend has as many queued jobs as it accepts; try again later."""
    DISK_FULL = "disk_full"
    """The backend's data disk is full: the message names the data dir and its free space."""
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    """A submit reused a client key with a different job spec."""
    MISSING_MODEL = "missing_model"
    """A model the job needs is not on disk; the message says how to get it."""
    BUSY = "busy"
    """The backend is already doing this kind of work (a model pull) and does one at a time; try again when it is done."""
    JOB_FAILED = "job_failed"
    """The method raised an error while running the job."""
    OUT_OF_MEMORY = "out_of_memory"
    """The job needs more (GPU) memory than is free: refused before it ran, or it ran out; the message has the numbers
    and the presets or options that fit."""
    WORKER_CRASHED = "worker_crashed"
    """The worker process died while running the job."""
    WORKER_UNRESPONSIVE = "worker_unresponsive"
    """The worker process running the job fell silent (stopped, frozen) and was killed."""
    INTERRUPTED = "interrupted"
    """The server stopped while the job was running."""
    OFFLINE = "offline"
    """Client side: the request could not be sent because the backend is not connected."""
    TIMEOUT = "timeout"
    """Client side: no reply arrived in time."""
    INTERNAL = "internal"
    """A bug on the answering side; the server logged the traceback."""
    UNKNOWN = "unknown"
    """A code this side does not know (sent by a newer peer)."""

    @classmethod
    def _missing_(cls, value: object) -> "ErrorCode | None":
        # newer minor versions may add codes; an older peer still reads the message
        return cls.UNKNOWN if isinstance(value, str) else None


MAX_ERROR_CHARS = 4000
"""Error messages longer than this are cut (they may quote what a client sent)."""


def clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProtocolError(Exception):
    """An error with a wire code; raising it anywhere in a handler becomes an error reply.

    ``details`` are plain facts for programs (``job_id``, ``parameter``); the message is clipped
    to :data:`MAX_ERROR_CHARS`.
    """

    def __init__(self, code: ErrorCode, message: str, /, **details: Any) -> None:
        message = clip(message)
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


class FrameRejected(ProtocolError):
    """A received multipart message was refused before it became a message.

    ``reply`` says whether the peer may be told (a bad signature or a replay is
    dropped silently), ``request_id`` is the header id when the header was readable,
    ``reason`` a short key for counting refusals (defaults to the code).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        reply: bool = True,
        request_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(code, message)
        self.reply = reply
        self.request_id = request_id
        self.reason = reason or self.code.value


class RemoteError(ProtocolError):
    """Client side: the backend answered a request with an error reply."""
