"""Log files of the server and its workers."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path


def rotating_log_handler(path: Path) -> logging.Handler:
    """A log file that rotates at 10 MB and keeps three old files (one writer process per file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


@contextlib.contextmanager
def logging_to_file(path: Path, level: int) -> Iterator[None]:
    """While in the context, records from ``level`` up also go to the log file ``path``; the root logger's other
    handlers (the terminal) keep showing only what they showed before, at the root's former level."""
    root = logging.getLogger()
    former = root.level
    unpinned = [handler for handler in root.handlers if handler.level == logging.NOTSET]
    for handler in unpinned:
        handler.setLevel(former)
    file = rotating_log_handler(path)
    file.setLevel(level)
    root.addHandler(file)
    root.setLevel(min(former, level))
    try:
        yield
    finally:
        root.removeHandler(file)
        file.close()
        root.setLevel(former)
        for handler in unpinned:
            handler.setLevel(logging.NOTSET)
