"""The server process: one data directory, one ROUTER socket, one broker loop, N workers."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from protocol.connection import (
    CONNECTION_FILE_NAME,
    ConnectionFileError,
    ConnectionInfo,
    read_connection_file,
    write_connection_file,
)
from protocol.framing import Framer
from protocol.limits import DEFAULT_LIMITS, Limits
from protocol.transport import configure, curve_available, make_curve_keypair

from .broker import Broker
from .images import DEFAULT_MAX_PIXELS
from .scheduler import Scheduler
from .store import JobStore
from .workers import WorkerHandle

log = logging.getLogger(__name__)

DEFAULT_BIND = "tcp://127.0.0.1:5757"


@dataclass(frozen=True)
class ServerConfig:
    """How ``distill3d serve`` runs."""

    data_dir: Path
    """Job store, connection file, logs."""
    bind: str = DEFAULT_BIND
    """ZeroMQ endpoint to listen on (``host:port`` is read as tcp; port 0 picks a free one)."""
    device: str = "auto"
    """``auto`` (CUDA when torch sees it), ``cpu`` or ``cuda``."""
    workers: int = 1
    """Worker processes; with CUDA, worker i uses GPU i modulo the GPU count."""
    curve: bool = False
    """Encrypt traffic with CURVE (for backends reached over a network)."""
    advertise_host: str | None = None
    """Host written into the connection file when binding to all interfaces."""
    new_key: bool = False
    """Make a new signing key instead of reusing the one in the existing connection file."""
    cancel_grace_s: float = 10.0
    """Seconds a running job has to honour a cancel before its worker is killed."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Largest input image accepted, in pixels."""
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    """Frame and message size limits."""
    log_level: int = logging.INFO
    """Log level of the workers."""


def normalise_bind(bind: str) -> str:
    """``host:port`` → ``tcp://host:port``; port 0 → ``*`` (ZeroMQ's "any free port")."""
    if "://" not in bind:
        bind = f"tcp://{bind}"
    if bind.startswith("tcp://") and bind.endswith(":0"):
        bind = bind[:-2] + ":*"
    return bind


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class DataDirLock:
    """An exclusive lock on the data directory, so two servers never share one job store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def acquire(self) -> None:
        self._file = open(self.path, "a+")
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(self._file.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            owner = self._file.read().strip() or "unknown"
            self._file.close()
            self._file = None
            raise RuntimeError(f"another distill3d server (pid {owner}) is using {self.path.parent}") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Server:
    """Start with :meth:`start`, run with :meth:`run` (any thread) or :meth:`serve_forever` (main thread)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self.connection: ConnectionInfo | None = None
        self.connection_file = config.data_dir / CONNECTION_FILE_NAME

    # ---------------------------------------------------------------- set-up

    def start(self) -> ConnectionInfo:
        """Lock the data dir, load the store, bind, write the connection file, start the workers."""
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = DataDirLock(config.data_dir / "server.lock")
        self._lock.acquire()
        try:
            return self._start()
        except BaseException:
            self._lock.release()
            raise

    def _start(self) -> ConnectionInfo:
        config = self.config
        key = self._signing_key()
        self.store = JobStore(config.data_dir)
        queued = self.store.load()
        self._ctx = zmq.Context()
        self.sock = self._ctx.socket(zmq.ROUTER)
        configure(self.sock, config.limits, sndhwm=64, rcvhwm=256)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        public_key = None
        if config.curve:
            if not curve_available():
                raise RuntimeError("this pyzmq/libzmq has no CURVE support; drop --curve")
            public_key, secret_key = self._curve_keys()
            self.sock.curve_server = True
            self.sock.curve_secretkey = secret_key.encode("ascii")
        bind = normalise_bind(config.bind)
        try:
            self.sock.bind(bind)
        except zmq.ZMQError as exc:
            self.sock.close(linger=0)
            self._ctx.term()
            raise RuntimeError(f"cannot listen on {bind}: {exc}") from None
        endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        url = self._advertised(endpoint)
        self.connection = ConnectionInfo(url=url, key=key, server_public_key=public_key, pid=os.getpid())
        write_connection_file(self.connection_file, self.connection)
        self.framer = Framer(key, config.limits)
        self.workers = [WorkerHandle(i, config.device, config.log_level) for i in range(config.workers)]
        self.scheduler = Scheduler(self.store, self.workers, self._job_changed, cancel_grace_s=config.cancel_grace_s)
        self.broker = Broker(self.sock, self.framer, self.store, self.scheduler, max_pixels=config.max_pixels)
        for worker in self.workers:
            worker.start()
        for job_id in queued:
            self.scheduler.enqueue(job_id)
        log.info("Distill3D backend listening on %s (data: %s, connection file: %s)", url, config.data_dir, self.connection_file)
        return self.connection

    def _signing_key(self) -> bytes:
        if not self.config.new_key and self.connection_file.exists():
            try:
                return read_connection_file(self.connection_file).key
            except ConnectionFileError as exc:
                log.warning("making a new key: %s", exc)
        return secrets.token_bytes(32)

    def _curve_keys(self) -> tuple[str, str]:
        path = self.config.data_dir / "curve.key"
        if path.exists():
            public, secret = path.read_text(encoding="ascii").split()
            return public, secret
        public, secret = make_curve_keypair()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{public}\n{secret}\n")
        return public, secret

    def _advertised(self, endpoint: str) -> str:
        if not endpoint.startswith("tcp://"):
            return endpoint
        host, _, port = endpoint[len("tcp://") :].rpartition(":")
        if host in ("0.0.0.0", "[::]", "*"):
            host = self.config.advertise_host or "127.0.0.1"
        if not _is_loopback(host) and not self.config.curve:
            log.warning(
                "listening on %s without encryption: messages are signed but readable on the network; use --curve", host
            )
        return f"tcp://{host}:{port}"

    # ------------------------------------------------------------------ loop

    def _job_changed(self, job_id: str) -> None:
        self.broker.job_changed(job_id)

    def stop(self) -> None:
        """Ask the loop to end (thread-safe); :meth:`run` returns within ~0.1 s."""
        self._stop.set()

    def run(self) -> None:
        """The broker loop; returns after :meth:`stop`, having stopped the workers and closed the socket."""
        try:
            while not self._stop.is_set():
                self._loop_once()
        finally:
            self.close()

    def _loop_once(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        watched: list[tuple[int, WorkerHandle, bool]] = []
        for worker in self.workers:
            if worker.process is not None:
                events_fd, sentinel = worker.fds
                watched += [(events_fd, worker, False), (sentinel, worker, True)]
        for fd, _, _ in watched:
            poller.register(fd, zmq.POLLIN)
        busy = bool(self.broker.subscriptions.dirty) or self.broker.outbox.has_backlog
        ready = dict(poller.poll(timeout=5 if busy else 100))
        if self.sock in ready:
            for _ in range(256):
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self.broker.handle(frames)
        for fd, worker, is_sentinel in watched:  # a worker's events before its death
            if fd in ready and worker.process is not None and fd in worker.fds:
                if is_sentinel:
                    if not worker.alive():
                        self.scheduler.on_worker_exit(worker)
                else:
                    self.scheduler.on_worker_readable(worker)
        self.scheduler.tick()
        self.broker.pump()

    def serve_forever(self) -> None:
        """Run in the main thread until SIGINT/SIGTERM."""
        def on_signal(signum: int, frame: Any) -> None:
            log.info("received %s; shutting down", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        self.run()

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        log.info("stopping workers")
        self.scheduler.shutdown()
        self.sock.close(linger=0)
        self._ctx.term()
        self._lock.release()
        log.info("server stopped")
