"""The server process: one data directory, one ROUTER socket, one broker loop, N workers."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import signal
import sys
import threading
import time
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
from protocol.transport import HANDSHAKE_USER, configure, curve_available, handshake_password, make_curve_keypair

from .. import methods
from .broker import Broker
from .images import DEFAULT_MAX_PIXELS
from .replay_log import ReplayLog
from .scheduler import Scheduler
from .store import JobStore
from .threads import default_threads
from .workers import WorkerHandle

log = logging.getLogger(__name__)

DEFAULT_BIND = "tcp://127.0.0.1:5757"


@dataclass(frozen=True)
class ServerConfig:
    """How ``distill3d serve`` runs."""

    data_dir: Path
    """Job store, connection file, logs (``logs/worker-N.log``; ``distill3d serve`` adds ``logs/server.log``)."""
    bind: str = DEFAULT_BIND
    """ZeroMQ endpoint to listen on (``host:port`` is read as tcp; port 0 picks a free one)."""
    device: str = "auto"
    """``auto`` (CUDA when torch sees it), ``cpu`` or ``cuda``."""
    workers: int = 1
    """Worker processes; with CUDA, worker i uses GPU i modulo the GPU count."""
    threads: int | None = None
    """torch's intra-op threads in each worker (None: :func:`.threads.default_threads`, which leaves a core free)."""
    curve: bool = False
    """Encrypt traffic with CURVE and admit only holders of the connection file (for networks)."""
    insecure: bool = False
    """Allow a non-loopback address without ``curve`` (anyone who can reach it can load the broker)."""
    advertise_host: str | None = None
    """Host written into the connection file when binding to all interfaces."""
    new_key: bool = False
    """Make a new signing key instead of reusing the one in the existing connection file."""
    cancel_grace_s: float = 10.0
    """Seconds a running job has to honour a cancel before its worker is killed."""
    worker_timeout_s: float = 120.0
    """Seconds a worker running a job may stay silent (workers send a heartbeat every 2 s) before it is killed and its job
    fails ``worker_unresponsive`` (or goes back to the queue, for methods that resume from checkpoints)."""
    max_pixels: int = DEFAULT_MAX_PIXELS
    """Largest input image accepted, in pixels."""
    max_queued_jobs: int = 1000
    """Submits beyond this many queued jobs are refused."""
    max_disk_bytes: int | None = None
    """Disk quota of the job store: finished jobs are deleted, oldest first, while it holds more (None: no quota)."""
    keep_days: float | None = None
    """Finished jobs older than this many days are deleted (None: kept)."""
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    """Frame and message size limits."""
    log_level: int = logging.INFO
    """Log level of the workers."""
    worker_console_level: int | None = None
    """Least level of the worker records echoed to stderr, job log lines left out: a client sharing the terminal shows
    those from the job's events (``generate --local``). None: every record, as in the workers' log files."""


PRUNE_INTERVAL_S = 60.0
"""Seconds between two applications of the job store's quota and age limit."""


def normalise_bind(bind: str) -> str:
    """``host:port`` → ``tcp://host:port``; port 0 → ``*`` (ZeroMQ's "any free port")."""
    if "://" not in bind:
        bind = f"tcp://{bind}"
    if bind.startswith("tcp://") and bind.endswith(":0"):
        bind = bind[:-2] + ":*"
    return bind


def _tcp_host(endpoint: str) -> str | None:
    """The host part of a ``tcp://host:port`` endpoint; None for other transports."""
    if not endpoint.startswith("tcp://"):
        return None
    return endpoint[len("tcp://") :].rpartition(":")[0]


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
    """Start with :meth:`start`, run with :meth:`run` (any thread); in the main thread call :meth:`stop_on_signals`
    first, so a SIGTERM that arrives while starting still stops the server cleanly."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._stop = threading.Event()
        self.connection: ConnectionInfo | None = None
        self.connection_file = config.data_dir / CONNECTION_FILE_NAME

    # ---------------------------------------------------------------- set-up

    def start(self) -> ConnectionInfo:
        """Lock the data dir, load the store, bind, start the workers, then write the connection file: its appearance
        means the server is ready (a client or the add-on may stop it at once)."""
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
        if config.workers < 1:
            raise RuntimeError("--workers must be at least 1")
        bind = normalise_bind(config.bind)
        host = _tcp_host(bind)
        if host is not None and not _is_loopback(host) and not (config.curve or config.insecure):
            raise RuntimeError(
                f"{bind} is reachable from the network: add --curve (encrypted, only holders of the connection "
                "file can connect) or, on a network you trust, --insecure"
            )
        key = self._signing_key()
        self.store = JobStore(config.data_dir)
        queued = self.store.load(disposable=methods.is_transient_job, resumable=methods.is_resumable)
        self._ctx = zmq.Context()
        self.sock = self._ctx.socket(zmq.ROUTER)
        configure(self.sock, config.limits, sndhwm=64, rcvhwm=256)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        curve_keys: dict[str, Any] = {}
        if config.curve:
            curve_keys = self._enable_curve()
        else:
            curve_keys = self._enable_handshake_auth(key)
        try:
            self.sock.bind(bind)
        except zmq.ZMQError as exc:
            self._close_transport()
            raise RuntimeError(f"cannot listen on {bind}: {exc}") from None
        url = self._advertised(self.sock.getsockopt_string(zmq.LAST_ENDPOINT))
        self.connection = ConnectionInfo(url=url, key=key, pid=os.getpid(), **curve_keys)
        self.framer = Framer(key, config.limits)
        replay_log = ReplayLog(config.data_dir)
        replay_log.restore(self.framer.replay)
        self.workers = [
            WorkerHandle(i, config.device, config.log_level, config.data_dir / "logs" / f"worker-{i}.log", config.worker_console_level,
                         config.threads or default_threads(os.cpu_count() or 1, config.workers))
            for i in range(config.workers)
        ]
        self.scheduler = Scheduler(
            self.store, self.workers, self._job_changed, cancel_grace_s=config.cancel_grace_s, unresponsive_s=config.worker_timeout_s,
        )
        self.broker = Broker(
            self.sock, self.framer, self.store, self.scheduler,
            max_pixels=config.max_pixels, max_queued_jobs=config.max_queued_jobs, replay_log=replay_log,
        )
        self._next_prune = 0.0
        for worker in self.workers:
            worker.start()
        for job_id in queued:
            self.scheduler.enqueue(job_id)
        log.info("Distill3D backend listening on %s (data: %s, connection file: %s)", url, config.data_dir, self.connection_file)
        write_connection_file(self.connection_file, self.connection)
        return self.connection

    def _enable_handshake_auth(self, key: bytes) -> dict[str, Any]:
        """PLAIN on the socket, and a ZAP handler that admits only the password derived from the signing key: a peer
        without the key is turned away in the handshake, before ZeroMQ takes any message of it into memory."""
        from zmq.auth.thread import ThreadAuthenticator

        self._authenticator = ThreadAuthenticator(self._ctx, log=logging.getLogger("backend.server.zap"))
        self._authenticator.start()
        self._authenticator.configure_plain("*", {HANDSHAKE_USER.decode(): handshake_password(key).decode()})
        self.sock.plain_server = True
        return {"handshake_auth": True}

    def _enable_curve(self) -> dict[str, str]:
        """CURVE on the socket, and a ZAP handler that admits only the client key pair written to the connection file."""
        if not curve_available():
            raise RuntimeError("this pyzmq/libzmq has no CURVE support; drop --curve")
        from zmq.auth.thread import ThreadAuthenticator

        server_public, server_secret = self._keypair("curve-server.key")
        client_public, client_secret = self._keypair("curve-client.key")

        class AdmitConnectionFileHolders:
            def callback(self, domain: str, client_key: bytes) -> bool:
                return client_key == client_public.encode("ascii")

        self._authenticator = ThreadAuthenticator(self._ctx, log=logging.getLogger("backend.server.zap"))
        self._authenticator.start()
        self._authenticator.configure_curve_callback("*", credentials_provider=AdmitConnectionFileHolders())
        self.sock.curve_server = True
        self.sock.curve_secretkey = server_secret.encode("ascii")
        return {"server_public_key": server_public, "client_public_key": client_public, "client_secret_key": client_secret}

    def _signing_key(self) -> bytes:
        if not self.config.new_key and self.connection_file.exists():
            try:
                return read_connection_file(self.connection_file).key
            except ConnectionFileError as exc:
                log.warning("making a new key: %s", exc)
        return secrets.token_bytes(32)

    def _keypair(self, name: str) -> tuple[str, str]:
        """A CURVE key pair kept in the data dir (mode 0600), so restarts keep clients' connection files valid."""
        path = self.config.data_dir / name
        if path.exists():
            public, secret = path.read_text(encoding="ascii").split()
            return public, secret
        public, secret = make_curve_keypair()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(f"{public}\n{secret}\n")
        return public, secret

    def _advertised(self, endpoint: str) -> str:
        host = _tcp_host(endpoint)
        if host in ("0.0.0.0", "[::]", "*"):
            return endpoint.replace(f"//{host}:", f"//{self.config.advertise_host or '127.0.0.1'}:", 1)
        return endpoint

    # ------------------------------------------------------------------ loop

    def _job_changed(self, job_id: str) -> None:
        self.broker.job_changed(job_id)

    def stop(self) -> None:
        """Ask the loop to end (thread-safe); :meth:`run` returns within ~0.1 s."""
        self._stop.set()

    def run(self) -> None:
        """The broker loop; returns after :meth:`stop`, having stopped the workers and closed the socket."""
        try:
            processes = self._worker_processes()
            poller, watched = self._poller()
            while not self._stop.is_set():
                if self._worker_processes() != processes:  # a worker was restarted or given up
                    processes = self._worker_processes()
                    poller, watched = self._poller()
                try:
                    self._loop_once(poller, watched)
                except Exception:  # last resort: a bug must cost one message, never the server
                    self.broker.dropped["internal_error"] += 1
                    log.exception("broker loop: unexpected error (continuing)")
        finally:
            self.close()

    def _worker_processes(self) -> tuple[Any, ...]:
        return tuple(worker.process for worker in self.workers)

    def _poller(self) -> tuple[zmq.Poller, dict[int, tuple[WorkerHandle, bool]]]:
        """A poller on the socket and every live worker's event pipe and process sentinel."""
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        watched: dict[int, tuple[WorkerHandle, bool]] = {}
        for worker in self.workers:
            if worker.process is not None:
                events_fd, sentinel = worker.fds
                watched[events_fd] = (worker, False)
                watched[sentinel] = (worker, True)
        for fd in watched:
            poller.register(fd, zmq.POLLIN)
        return poller, watched

    def _loop_once(self, poller: zmq.Poller, watched: dict[int, tuple[WorkerHandle, bool]]) -> None:
        busy = bool(self.broker.subscriptions.dirty) or self.broker.outbox.has_backlog
        ready = dict(poller.poll(timeout=5 if busy else 100))
        if self.sock in ready:
            for _ in range(64):
                try:
                    frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self.broker.handle(frames)
        for fd, (worker, is_sentinel) in watched.items():  # dict order: a worker's events before its death
            if fd in ready and worker.process is not None and fd in worker.fds:
                if not is_sentinel:
                    self.scheduler.on_worker_readable(worker)
                elif not worker.alive():
                    self.scheduler.on_worker_exit(worker)
        self.scheduler.tick()
        self._retain()
        self.broker.pump()

    def _retain(self, now: float | None = None) -> None:
        """Apply ``max_disk_bytes`` / ``keep_days`` every :data:`PRUNE_INTERVAL_S` (at start too)."""
        config = self.config
        if config.max_disk_bytes is None and config.keep_days is None:
            return
        now = time.monotonic() if now is None else now
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL_S
        self.broker.prune(config.max_disk_bytes, config.keep_days)

    def stop_on_signals(self) -> None:
        """From the main thread, before :meth:`start`: SIGINT/SIGTERM make :meth:`run` stop in order (workers, socket)."""
        def on_signal(signum: int, frame: Any) -> None:
            log.info("received %s; shutting down", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def close(self) -> None:
        if getattr(self, "_closed", False):
            return
        self._closed = True
        log.info("stopping workers")
        self.scheduler.shutdown()
        self.broker.pulls.close()
        self._close_transport()
        self._lock.release()
        log.info("server stopped")

    def _close_transport(self) -> None:
        authenticator = getattr(self, "_authenticator", None)
        if authenticator is not None:
            authenticator.stop()
        self.sock.close(linger=0)
        self._ctx.term()
