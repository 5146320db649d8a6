"""Size limits both ends enforce before trusting anything they receive."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds on what a peer may send; anything over a bound is refused with ``too_large``."""

    max_frames: int = 16
    """Frames in one message: version, signature, header, body and at most 12 buffers."""
    max_header_bytes: int = 4096
    """Bytes of the msgpack header frame."""
    max_body_bytes: int = 1 * MiB
    """Bytes of the msgpack body frame (bulk data travels in buffer frames)."""
    max_buffer_bytes: int = 16 * MiB
    """Bytes of one buffer frame (an uploaded image, a result chunk, an array)."""
    max_message_bytes: int = 64 * MiB
    """Bytes of all frames of one message together."""
    max_depth: int = 32
    """Nesting depth of decoded msgpack containers."""
    max_container_len: int = 100_000
    """Entries of one decoded msgpack array or map."""
    transport_frame_cap: int = 64 * MiB
    """ZeroMQ's own cap (ZMQ_MAXMSGSIZE): a peer sending a larger frame is disconnected
    without reading it. Frames between ``max_buffer_bytes`` and this cap get an error reply."""

    def __post_init__(self) -> None:
        if self.transport_frame_cap < self.max_buffer_bytes:
            raise ValueError("transport_frame_cap must be at least max_buffer_bytes")
        if self.max_frames < 4:
            raise ValueError("max_frames must leave room for version, signature, header and body")


DEFAULT_LIMITS = Limits()
