"""Atomic file writes: a crash or a full disk leaves the old file or the new one, never half of one.

Every writer goes to a temporary file beside the target, flushes and fsyncs it, renames
it over the target and fsyncs the folder, so the rename itself survives a power cut. A
failed write removes its temporary file and leaves the target as it was. This is the one
place the project writes files atomically: the backend's job store, checkpoints and
generator folders, the connection file, and the append-only logs (which is why it lives in :mod:`protocol`,
stdlib only: the add-on reads connection files without the backend).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the new file to (by any library); on leaving the block it is
    fsynced and renamed over ``path``; on an exception it is removed and ``path`` is untouched."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` atomically; ``mode`` (e.g. ``0o600``) is set before any byte is written."""
    with replacing(path) as temporary:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)  # the umask applies
        with os.fdopen(fd, "wb") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)  # exactly ``mode``, whatever the umask
            f.write(data)


def write_text(path: str | os.PathLike[str], text: str, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"), mode)


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = None, mode: int | None = None) -> None:
    """Write ``data`` as JSON (UTF-8, with a final newline when indented) to ``path`` atomically."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    write_text(path, text + ("\n" if indent is not None else ""), mode)



def append_record(path: str | os.PathLike[str], record: bytes, *, mode: int = 0o644, durable: bool = False) -> None:
    """Append ``record`` to ``path`` whole or not at all: a write that fails part way (a full disk) is cut back off the
    file; ``durable`` fsyncs it before returning; ``mode`` applies when the file is created."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
