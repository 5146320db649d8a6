"""A full disk under the data dir: recognising it, saying so, and keeping a reserve to finish jobs with.

The store keeps a reserve file of :data:`RESERVE_BYTES` in the data dir. When a write finds the disk full, the reserve
is given up and the write tried once more, so that the records which end jobs (state events, ``state.json``, a
result's registration) still land and no job is left running for ever; new jobs are refused with ``disk_full`` until
the reserve can be made again, which is checked at every submit.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, TypeVar

from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

RESERVE_FILE = "disk-reserve"
"""In the data dir: bytes held back for the records that finish jobs."""
RESERVE_BYTES = 4 << 20
"""Size of the reserve: ~10,000 event lines or state files (each well under 400 bytes)."""
FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
"""The errors of a full disk or an exhausted quota."""

T = TypeVar("T")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for lack of space (or quota)."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def free_bytes(path: Path) -> int | None:
    """Bytes free for this user on the disk holding ``path`` (None when it cannot be told)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def describe_bytes(count: int | None) -> str:
    """``count`` bytes for people ("1.2 MiB"; "an unknown amount" for None)."""
    if count is None:
        return "an unknown amount"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def disk_full_error(data_dir: Path, what: str) -> ProtocolError:
    """The ``disk_full`` error a client gets: what could not be written, the data dir and its free space."""
    return ProtocolError(
        ErrorCode.DISK_FULL,
        f"the backend's disk is full: {what} could not be written to the data dir {data_dir} "
        f"({describe_bytes(free_bytes(data_dir))} free); free some space there (or prune old jobs) and try again",
    )


@contextmanager
def reported_as_disk_full(data_dir: Path, what: str) -> Iterator[None]:
    """Within the block, a full disk becomes :func:`disk_full_error` (naming ``what``); other errors pass unchanged."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(data_dir, what) from None
        raise


class Reserve:
    """The data dir's reserve file (:data:`RESERVE_FILE`)."""

    def __init__(self, data_dir: Path, size: int = RESERVE_BYTES) -> None:
        self.path = data_dir / RESERVE_FILE
        self.size = size

    @property
    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Make the reserve when it is missing; whether it is held now (False while the disk is too full for it)."""
        if self.held:
            return True
        try:
            with open(self.path, "wb") as f:
                f.write(b"\0" * self.size)  # real blocks (a sparse file would free nothing)
                f.flush()
                os.fsync(f.fileno())
            return True
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            if not is_disk_full(exc):
                raise
            return False

    def release(self) -> bool:
        """Give the reserve's space back to the disk; whether there was one to give."""
        if not self.path.exists():
            return False
        self.path.unlink(missing_ok=True)
        log.error("the data dir's disk is full: released the %s reserve to finish what is running", describe_bytes(self.size))
        return True


def with_reserve(reserve: Reserve, write: Callable[[], T]) -> T:
    """``write()``; when the disk is full, once more after releasing the reserve (the error stands when there was none)."""
    try:
        return write()
    except OSError as exc:
        if not is_disk_full(exc) or not reserve.release():
            raise
    return write()
