"""Log files of the server and its workers."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


def rotating_log_handler(path: Path) -> logging.Handler:
    """A log file that rotates at 10 MB and keeps three old files (one writer process per file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=10_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler
