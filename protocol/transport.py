"""ZeroMQ socket settings shared by the backend's ROUTER and the clients' DEALER."""

from __future__ import annotations

import hashlib
import hmac

import zmq

from .limits import Limits

AUTH_FAILURE_NOTICE = (b"", b"auth-failed")
"""Frames 1 and 2 of the unsigned notice a backend sends (rate-limited) when a message's
signature does not verify, so a client can say "key mismatch" rather than "no reply".
Frame 0 is the version frame. It carries nothing else and is never trusted for more."""

HANDSHAKE_USER = b"distill3d"
"""ZeroMQ PLAIN user name of every client (the password is what proves the key)."""


def handshake_password(key: bytes) -> bytes:
    """The PLAIN password of holders of ``key``: HMAC-SHA256(key, a fixed label), hex — the key itself never travels.

    PLAIN is not encryption: on loopback (the default) only root can read the handshake; networks use CURVE."""
    return hmac.new(key, b"distill3d zmq PLAIN handshake v1", hashlib.sha256).hexdigest().encode("ascii")


def prove_key(sock: zmq.Socket, key: bytes) -> None:
    """Client side of handshake authentication (before ``connect``)."""
    sock.plain_username = HANDSHAKE_USER
    sock.plain_password = handshake_password(key)


def configure(sock: zmq.Socket, limits: Limits, *, sndhwm: int, rcvhwm: int) -> None:
    """Bound memory: per-frame cap enforced by ZeroMQ itself, queue lengths, no linger on close."""
    sock.setsockopt(zmq.MAXMSGSIZE, limits.transport_frame_cap)
    sock.setsockopt(zmq.SNDHWM, sndhwm)
    sock.setsockopt(zmq.RCVHWM, rcvhwm)
    sock.setsockopt(zmq.LINGER, 0)


def curve_available() -> bool:
    return bool(zmq.has("curve"))


def make_curve_keypair() -> tuple[str, str]:
    """``(public, secret)`` Z85 strings for CURVE encryption."""
    public, secret = zmq.curve_keypair()
    return public.decode("ascii"), secret.decode("ascii")


def endpoint_problem(url: str) -> str | None:
    """A sentence saying what is wrong with an endpoint string, or None when it looks usable."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"address {url!r} has no scheme; write it like tcp://127.0.0.1:5757"
    if scheme not in ("tcp", "ipc", "inproc"):
        return f"address {url!r}: transport {scheme!r} is not one of tcp, ipc, inproc"
    if scheme == "tcp":
        host, colon, port = rest.rpartition(":")
        if not colon or not host:
            return f"address {url!r} needs host:port"
        if port != "*" and not (port.isdigit() and 0 <= int(port) <= 65535):
            return f"address {url!r}: port {port!r} is not a number from 0 to 65535"
    return None
