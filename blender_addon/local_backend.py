"""A backend started by the add-on (``distill3d serve``) and stopped when Blender quits. No ``bpy`` here."""

from __future__ import annotations

import atexit
import os
import shlex
import subprocess
from pathlib import Path

from .wire import connection

LOG_NAME = "blender-backend.log"
"""Log file of a backend started from Blender, in its data directory."""


class LocalBackend:
    """``command --data-dir <folder of connection_file>``, so the backend writes the connection file the add-on reads."""

    def __init__(self, command: str, connection_file: Path) -> None:
        try:
            self.argv = shlex.split(command, posix=os.name != "nt")
        except ValueError as exc:
            raise ValueError(f"cannot parse the backend command {command!r}: {exc}") from None
        if not self.argv:
            raise ValueError("the backend command is empty (e.g. 'distill3d serve', or '/path/to/python -m backend.cli serve')")
        self.connection_file = connection_file
        self.proc: subprocess.Popen | None = None
        self._old_stamp: int | None = None

    @property
    def log_path(self) -> Path:
        return self.connection_file.parent / LOG_NAME

    def start(self) -> None:
        """Launch the process; raises ``OSError`` (with the command) when it cannot be started."""
        self.connection_file.parent.mkdir(parents=True, exist_ok=True)
        self._old_stamp = self.connection_file.stat().st_mtime_ns if self.connection_file.exists() else None
        with open(self.log_path, "ab") as log:
            try:
                self.proc = subprocess.Popen(
                    [*self.argv, "--data-dir", str(self.connection_file.parent)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            except OSError as exc:
                raise OSError(f"cannot start {' '.join(self.argv)!r}: {exc}") from None
        atexit.register(self.stop)

    def state(self) -> tuple[str, str]:
        """``("starting" | "running" | "exited", reason)``."""
        if self.proc is None:
            return "exited", "not started"
        code = self.proc.poll()
        if code is not None:
            return "exited", f"the local backend exited with code {code}: {self._log_tail()}"
        try:
            info = connection.read_connection_file(self.connection_file)
        except connection.ConnectionFileError:
            return "starting", "the local backend is starting"
        fresh = self.connection_file.stat().st_mtime_ns != self._old_stamp
        return ("running", "") if fresh and info.pid == self.proc.pid else ("starting", "the local backend is starting")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the backend to stop (it finishes the current step and keeps its jobs on disk); kill it if it lingers."""
        atexit.unregister(self.stop)
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"see {self.log_path}"
        return " | ".join(text.strip().splitlines()[-lines:]) or f"see {self.log_path}"
