"""The broker's handle on one worker process."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from pathlib import Path
from typing import Any

from protocol.codec import CodecError, pack, unpack
from protocol.messages import DeviceInfo
from protocol.schema import SchemaError, from_plain

from .worker_main import worker_main

log = logging.getLogger(__name__)

_spawn = multiprocessing.get_context("spawn")


def describe_exit(exitcode: int | None) -> str:
    """'exit code 3' / 'signal 9 (SIGKILL)' for a process's exit code."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"signal {-exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class WorkerHandle:
    """Starts, feeds, cancels and kills one worker process; never blocks."""

    def __init__(
        self, index: int, device_preference: str, log_level: int = logging.INFO, log_file: Path | None = None,
        console_level: int | None = None, threads: int = 1,
    ) -> None:
        self.index = index
        self.threads = threads
        """torch's intra-op threads in the process (:mod:`.threads`)."""
        self.device_preference = device_preference
        self.log_level = log_level
        self.log_file = log_file
        self.console_level = console_level
        """See :attr:`.server.ServerConfig.worker_console_level`."""
        self.process: Any = None
        self.device: DeviceInfo = DeviceInfo(kind="starting")
        self.job_id: str | None = None
        self.cancel_requested_at: float | None = None
        self.started_at = 0.0
        self.last_heard = 0.0
        """``time.monotonic()`` when the process last said anything (heartbeats included)."""
        self.unresponsive = False
        """Set when the broker killed the process for its silence."""
        self.ready = False

    def start(self) -> None:
        commands_out, commands_in = _spawn.Pipe(duplex=False)
        events_out, events_in = _spawn.Pipe(duplex=False)
        self._cancel = _spawn.Event()
        self.process = _spawn.Process(
            target=worker_main,
            args=(
                self.index, self.device_preference, commands_out, events_in, self._cancel, self.log_level,
                str(self.log_file) if self.log_file else None, self.console_level, self.threads,
            ),
            name=f"distill3d-worker-{self.index}",
            daemon=True,
        )
        self.process.start()
        commands_out.close()
        events_in.close()
        self._commands = commands_in
        self._events = events_out
        self.device = DeviceInfo(kind="starting")
        self.job_id = None
        self.cancel_requested_at = None
        self.started_at = self.last_heard = time.monotonic()
        self.unresponsive = False
        self.ready = False
        log.info("worker %d started (pid %d)", self.index, self.process.pid)

    @property
    def fds(self) -> list[int]:
        """File descriptors the broker polls: the event pipe and the process sentinel."""
        return [self._events.fileno(), self.process.sentinel]

    @property
    def idle(self) -> bool:
        return self.ready and self.job_id is None and self.device.kind not in ("starting", "unavailable")

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def exit_reason(self) -> str:
        return describe_exit(self.process.exitcode if self.process is not None else None)

    def receive(self) -> list[dict[str, Any]]:
        """Messages waiting in the event pipe (stops at EOF: the process died)."""
        messages = []
        try:
            while self._events.poll(0):
                raw = self._events.recv_bytes()
                try:
                    messages.append(unpack(raw))
                except CodecError as exc:
                    log.error("worker %d sent an undecodable message: %s", self.index, exc)
        except (EOFError, OSError):
            pass
        if messages:
            self.last_heard = time.monotonic()
        for message in messages:
            if message.get("t") == "ready":
                self.ready = True
                try:
                    self.device = from_plain(DeviceInfo, message.get("device", {}))
                except SchemaError as exc:
                    self.device = DeviceInfo(kind="unavailable", detail=f"bad device report: {exc}")
        return messages

    def _send(self, message: dict[str, Any]) -> bool:
        try:
            self._commands.send_bytes(pack(message))
            return True
        except (OSError, ValueError):
            return False

    def run(self, job_id: str, job_dir: str) -> bool:
        self._cancel.clear()
        self.cancel_requested_at = None
        if not self._send({"t": "run", "job_id": job_id, "job_dir": job_dir}):
            return False
        self.job_id = job_id
        return True

    def request_cancel(self) -> None:
        if self.cancel_requested_at is None:
            self.cancel_requested_at = time.monotonic()
        self._cancel.set()

    def release(self) -> bool:
        return self._send({"t": "release"})

    def kill(self) -> None:
        """SIGKILL the process without waiting; its sentinel tells the broker when it is gone."""
        if self.alive():
            self.process.kill()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to stop; kill it if it does not within ``timeout`` (or is busy)."""
        if self.process is None:
            return
        if self.job_id is not None:
            self.request_cancel()
        self._send({"t": "stop"})
        self.process.join(timeout=timeout if self.job_id is None else min(timeout, 2.0))
        self.kill()
        self.process.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Close the pipes and forget the (dead or stopped) process."""
        for conn in (getattr(self, "_commands", None), getattr(self, "_events", None)):
            if conn is not None:
                conn.close()
        self.process = None
