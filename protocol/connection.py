"""The connection file: where the backend listens and the key that signs its traffic.

``distill3d serve`` writes it (JSON, mode 0600, like Jupyter's kernel files) into
its data directory; clients read it. Stdlib only, so the Blender add-on can use it.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_json
from .messages import PROTOCOL_VERSION
from .signing import MIN_KEY_BYTES, SIGNATURE_SCHEME

log = logging.getLogger(__name__)

CONNECTION_FILE_NAME = "connection.json"
DATA_DIR_ENV = "DISTILL3D_DATA_DIR"


class ConnectionFileError(ValueError):
    """The connection file is missing, unreadable or malformed; the message says which."""


@dataclass(frozen=True)
class ConnectionInfo:
    """Everything a client needs to reach and authenticate to a backend."""

    url: str
    """ZeroMQ endpoint, e.g. ``tcp://127.0.0.1:5757``."""
    key: bytes
    """Shared HMAC-SHA256 key (at least 16 bytes)."""
    server_public_key: str | None = None
    """Z85 CURVE public key of the backend when it encrypts; None for plain TCP."""
    client_public_key: str | None = None
    """Z85 CURVE key pair the backend admits (with ``--curve``): whoever holds this file may connect."""
    client_secret_key: str | None = None
    """Secret half of ``client_public_key``."""
    pid: int | None = None
    """Process id of the backend that wrote the file (informational)."""
    handshake_auth: bool = False
    """The backend admits only peers that prove the key in ZeroMQ's handshake (PLAIN, with a password derived from
    ``key``; see :func:`protocol.transport.handshake_password`), so a stranger's frames are never even received. False
    for backends that predate it, and for CURVE, which authenticates by its own key pair."""

    @property
    def client_keypair(self) -> tuple[str, str] | None:
        if self.client_public_key and self.client_secret_key:
            return self.client_public_key, self.client_secret_key
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "key": self.key.hex(),
            "signature_scheme": SIGNATURE_SCHEME,
            "protocol_version": f"{PROTOCOL_VERSION[0]}.{PROTOCOL_VERSION[1]}",
            "server_public_key": self.server_public_key,
            "client_public_key": self.client_public_key,
            "client_secret_key": self.client_secret_key,
            "pid": self.pid,
            "handshake_auth": self.handshake_auth,
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "connection file") -> "ConnectionInfo":
        if not isinstance(data, dict):
            raise ConnectionFileError(f"{source}: expected a JSON object")
        scheme = data.get("signature_scheme", SIGNATURE_SCHEME)
        if scheme != SIGNATURE_SCHEME:
            raise ConnectionFileError(f"{source}: signature scheme {scheme!r} is not {SIGNATURE_SCHEME!r}")
        url = data.get("url")
        if not isinstance(url, str) or "://" not in url:
            raise ConnectionFileError(f"{source}: 'url' must be an endpoint such as tcp://127.0.0.1:5757")
        try:
            key = bytes.fromhex(data.get("key", ""))
        except (TypeError, ValueError):
            raise ConnectionFileError(f"{source}: 'key' must be hex") from None
        if len(key) < MIN_KEY_BYTES:
            raise ConnectionFileError(f"{source}: 'key' must be at least {MIN_KEY_BYTES} bytes")
        keys = {}
        for name in ("server_public_key", "client_public_key", "client_secret_key"):
            value = data.get(name)
            if value is not None and (not isinstance(value, str) or len(value) != 40):
                raise ConnectionFileError(f"{source}: {name!r} must be a 40-character Z85 key")
            keys[name] = value
        pid = data.get("pid")
        handshake_auth = data.get("handshake_auth", False)
        if not isinstance(handshake_auth, bool):
            raise ConnectionFileError(f"{source}: 'handshake_auth' must be true or false")
        return cls(url=url, key=key, pid=pid if isinstance(pid, int) else None, handshake_auth=handshake_auth, **keys)


def write_connection_file(path: Path, info: ConnectionInfo) -> None:
    """Write ``info`` to ``path`` atomically, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, info.to_json(), indent=2, mode=0o600)


def read_connection_file(path: str | os.PathLike[str]) -> ConnectionInfo:
    """Read a connection file; warns when others can read it (the key is a secret)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConnectionFileError(
            f"no connection file at {path}: start the backend with `distill3d serve` or name the file with --connect"
        ) from None
    except OSError as exc:
        raise ConnectionFileError(f"cannot read {path}: {exc.strerror}") from None
    if sys.platform != "win32":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s is readable by other users; its key lets them run jobs (chmod 600 it)", path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConnectionFileError(f"{path} is not valid JSON: {exc}") from None
    return ConnectionInfo.from_json(data, str(path))


def default_data_dir() -> Path:
    """The per-user data directory (``$DISTILL3D_DATA_DIR`` overrides it)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "Distill3D"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Distill3D"
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "distill3d"


def default_connection_file() -> Path:
    return default_data_dir() / CONNECTION_FILE_NAME
