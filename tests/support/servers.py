"""Real backends for tests: ``distill3d serve`` in a subprocess, on loopback, in a temporary data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from protocol.connection import ConnectionInfo, read_connection_file

REPO = Path(__file__).resolve().parents[2]
PLUGINS = "tests.support.testbed,backend.bench.probe"


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["DISTILL3D_PLUGINS"] = PLUGINS
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ServerProcess:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self.bind = "tcp://127.0.0.1:0"

    @property
    def connection_file(self) -> Path:
        return self.data_dir / "connection.json"

    def start(self, timeout: float = 30.0) -> ConnectionInfo:
        """Start (or restart: same port, same key, like a real backend with a fixed address)."""
        old = self.connection_file.stat().st_mtime_ns if self.connection_file.exists() else None
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--data-dir", str(self.data_dir),
             "--bind", self.bind, "--device", "cpu", "--cancel-grace", "2", *self.extra],
            env=server_env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            if self.connection_file.exists() and self.connection_file.stat().st_mtime_ns != old:
                info = read_connection_file(self.connection_file)
                if info.pid == self.proc.pid:
                    self.info = info
                    self.bind = info.url
                    return info
            time.sleep(0.05)
        raise TimeoutError(f"server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
