"""A backend client whose socket lives on a background thread.

The GUI (or any caller) never touches ZeroMQ: it calls :meth:`Client.send` and
drains :attr:`Client.inbox` (or :meth:`Client.poll`) from its own loop; a blocking
caller uses :meth:`Client.request`. The background thread encodes, signs, sends,
verifies and decodes everything, keeps the connection state with a readable
reason, sends heartbeats, follows jobs (dropping duplicate events) and
re-attaches them after a reconnect or a backend restart.

Every request gets exactly one answer: the backend's reply, or a local error
(``offline``, ``timeout``, ``too_large``, ``invalid_params``) when it could not be
sent or nothing came back in time.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, replace
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import __version__
from .codec import CodecError
from .connection import ConnectionInfo
from .errors import ErrorCode, FrameRejected, ProtocolError, RemoteError
from .framing import VERSION_FRAME, Framer, Header, new_id
from .limits import DEFAULT_LIMITS, Limits
from .messages import (
    PROTOCOL_VERSION,
    Attach,
    Detach,
    Error,
    Events,
    Hello,
    Message,
    Ping,
    Preview,
    Request,
    Submit,
    Submitted,
    Welcome,
)
from .transport import AUTH_FAILURE_NOTICE, configure, endpoint_problem, prove_key

log = logging.getLogger(__name__)

_HANDSHAKE_FAILED = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_DISCONNECTED
    | _HANDSHAKE_FAILED
)


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Status:
    """The connection as a person should see it."""

    state: ConnectionState
    reason: str = ""
    welcome: Welcome | None = None


@dataclass(frozen=True)
class Incoming:
    """One item of the inbox.

    ``kind`` is ``"reply"`` (``request_id`` names the request; a local error has no
    header), ``"push"`` (events or a preview of a followed job, or an error the
    backend could not tie to a request) or ``"status"`` (the connection changed).
    """

    kind: str
    message: Message | None = None
    header: Header | None = None
    request_id: str | None = None
    status: Status | None = None


@dataclass
class _Pending:
    request: Request
    future: Future | None
    sent_at: float
    internal: bool = False


class Client:
    """Talks to one backend. Use as a context manager or call :meth:`start` / :meth:`close`."""

    def __init__(
        self,
        info: ConnectionInfo,
        *,
        name: str = f"distill3d-client/{__version__}",
        limits: Limits = DEFAULT_LIMITS,
        heartbeat_s: float = 1.0,
        offline_after_s: float = 5.0,
        request_timeout_s: float = 120.0,
    ) -> None:
        self.info = info
        self.name = name
        self.limits = limits
        self.heartbeat_s = heartbeat_s
        self.offline_after_s = offline_after_s
        self.request_timeout_s = request_timeout_s
        self.inbox: queue.Queue[Incoming] = queue.Queue()
        self._framer = Framer(info.key, limits)
        self._ctx = zmq.Context()
        self._wake_url = f"inproc://distill3d-client-{id(self):x}"
        self._push = self._ctx.socket(zmq.PUSH)
        self._push.bind(self._wake_url)
        self._push_lock = threading.Lock()
        self._closed = False
        self._outgoing: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._followed: dict[str, int] = {}
        """Job id → newest event seq received; pushes for other jobs are dropped."""
        self._reattach_jobs: set[str] = set()
        """Jobs followed live (submit/attach with follow): re-attached after a reconnect."""
        self._status = Status(ConnectionState.CONNECTING, "starting")
        self._status_changed = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="distill3d-client", daemon=True)
        # connection facts, touched by the background thread only
        self._tcp_up = False
        self._tcp_seen = False
        self._handshake_problem: str | None = None
        self._held: list[str] = []
        self._last_rx = time.monotonic()
        self._last_beat = 0.0

    # ------------------------------------------------------------- public API

    def start(self) -> "Client":
        """Start the background thread (once; later calls do nothing)."""
        if not self._thread.is_alive() and not self._closed:
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and fail whatever is still pending with ``offline``."""
        with self._push_lock:
            if self._closed:
                return
            self._closed = True
            if self._thread.is_alive():
                self._push.send(b"stop")
        self._thread.join(timeout=5)
        with self._push_lock:
            self._push.close(linger=0)
        if not self._thread.is_alive():
            self._ctx.term()
        self._fail_all_pending("client closed")

    def __enter__(self) -> "Client":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def status(self) -> Status:
        with self._lock:
            return self._status

    def wait_connected(self, timeout: float = 10.0) -> Status:
        """Block until connected; raise :class:`ProtocolError` (``offline``) with the reason otherwise."""
        deadline = time.monotonic() + timeout
        with self._status_changed:
            while self._status.state is not ConnectionState.CONNECTED:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProtocolError(ErrorCode.OFFLINE, f"cannot reach the backend at {self.info.url}: {self._status.reason}")
                self._status_changed.wait(left)
            return self._status

    def send(self, request: Request) -> str:
        """Send without waiting; the reply (or a local error) arrives in :attr:`inbox` with this id."""
        return self._submit(request, None)

    def request_async(self, request: Request) -> Future:
        """Send; the future resolves to the reply message or raises :class:`RemoteError`/:class:`ProtocolError`."""
        future: Future = Future()
        self._submit(request, future)
        return future

    def request(self, request: Request, timeout: float = 30.0) -> Message:
        """Send and wait for the reply; raises :class:`RemoteError` on an error reply."""
        future: Future = Future()
        request_id = self._submit(request, future)
        try:
            return future.result(timeout)
        except TimeoutError:
            with self._lock:
                self._pending.pop(request_id, None)
            raise ProtocolError(ErrorCode.TIMEOUT, f"no reply to {request.TYPE} within {timeout:.0f} s") from None

    def poll(self, limit: int | None = None) -> list[Incoming]:
        """Everything waiting in the inbox (at most ``limit`` items), without blocking."""
        items: list[Incoming] = []
        while limit is None or len(items) < limit:
            try:
                items.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return items

    def last_seq(self, job_id: str) -> int | None:
        """Sequence number of the newest event received for a followed job, or None if not followed."""
        with self._lock:
            return self._followed.get(job_id)

    # ------------------------------------------------------------ API → thread

    def _submit(self, request: Request, future: Future | None) -> str:
        request_id = new_id()
        with self._push_lock:
            if self._closed:
                raise ProtocolError(ErrorCode.OFFLINE, "client is closed")
            with self._lock:
                self._pending[request_id] = _Pending(request, future, time.monotonic())
            self._outgoing.put(request_id)
            try:
                self._push.send(b"wake", zmq.NOBLOCK)
            except zmq.Again:  # not connected yet or wake-ups already queued: the thread drains the queue anyway
                pass
        return request_id

    # ------------------------------------------------------------- the thread

    def _run(self) -> None:
        dealer = self._ctx.socket(zmq.DEALER)
        configure(dealer, self.limits, sndhwm=1000, rcvhwm=1000)
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        dealer.setsockopt(zmq.RECONNECT_IVL, 200)
        dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        pull = self._ctx.socket(zmq.PULL)
        pull.connect(self._wake_url)
        poller = zmq.Poller()
        poller.register(pull, zmq.POLLIN)
        monitor = self._connect(dealer, poller)
        try:
            while True:
                try:
                    ready = dict(poller.poll(timeout=100))
                    if pull in ready and self._stop_requested(pull):
                        break
                    if monitor is not None and monitor in ready:
                        self._on_monitor(monitor, dealer)
                    if dealer in ready:
                        self._receive(dealer)
                    self._send_outgoing(dealer)
                    self._housekeeping(dealer)
                except Exception:  # a bug here must not silently kill the thread every request relies on
                    log.exception("distill3d client thread: unexpected error (continuing)")
        finally:
            if monitor is not None:
                dealer.disable_monitor()
                monitor.close(linger=0)
            dealer.close(linger=0)
            pull.close(linger=0)

    def _connect(self, dealer: zmq.Socket, poller: zmq.Poller) -> zmq.Socket | None:
        problem = endpoint_problem(self.info.url)
        if problem is None:
            try:
                if self.info.server_public_key:
                    public, secret = self.info.client_keypair or zmq.curve_keypair()
                    dealer.curve_serverkey = self.info.server_public_key.encode("ascii")
                    dealer.curve_publickey = public.encode("ascii") if isinstance(public, str) else public
                    dealer.curve_secretkey = secret.encode("ascii") if isinstance(secret, str) else secret
                elif self.info.handshake_auth:
                    prove_key(dealer, self.info.key)
                monitor = dealer.get_monitor_socket(_MONITOR_EVENTS)
                dealer.connect(self.info.url)
                poller.register(dealer, zmq.POLLIN)
                poller.register(monitor, zmq.POLLIN)
                self._set_status(ConnectionState.CONNECTING, f"connecting to {self.info.url}")
                return monitor
            except zmq.ZMQError as exc:
                problem = f"cannot connect to {self.info.url!r}: {exc}"
        self._set_status(ConnectionState.OFFLINE, problem)
        return None

    def _handshake_failure(self) -> str:
        """Why the backend turned this client away in the handshake, from what the connection file says."""
        if self.info.server_public_key:
            return "encryption handshake failed: the backend's keys in the connection file do not match (or only one side uses --curve)"
        if self.info.handshake_auth:
            return ("the backend refused the handshake: the key in the connection file is not the backend's "
                    "(it was restarted with --new-key, or this file is another backend's)")
        return "the backend refused the handshake: this connection file is older than the backend's, or the backend uses --curve; use its current file"

    @staticmethod
    def _stop_requested(pull: zmq.Socket) -> bool:
        while True:
            try:
                if pull.recv(zmq.NOBLOCK) == b"stop":
                    return True
            except zmq.Again:
                return False

    def _send_outgoing(self, dealer: zmq.Socket) -> None:
        """Send queued requests, encoded here at send time so sequence numbers follow the send order."""
        while True:
            try:
                request_id = self._outgoing.get_nowait()
            except queue.Empty:
                break
            self._held.append(request_id)
        if self._held and (self._tcp_up or self.status.state is ConnectionState.OFFLINE):
            held, self._held = self._held, []
            for request_id in held:
                self._forward(dealer, request_id)
        # while still connecting, requests wait in _held for the handshake (or the request timeout)

    def _forward(self, dealer: zmq.Socket, request_id: str) -> None:
        with self._lock:
            entry = self._pending.get(request_id)
        if entry is None:  # timed out before it could be sent
            return
        try:
            _, frames = self._framer.encode(entry.request, msg_id=request_id)
        except ProtocolError as exc:
            self._answer_locally(request_id, exc.code, exc.message)
            return
        except CodecError as exc:
            self._answer_locally(request_id, ErrorCode.INVALID_PARAMS, f"cannot encode {entry.request.TYPE}: {exc}")
            return
        if not (self._tcp_up and self._send_frames(dealer, frames)):
            self._answer_locally(request_id, ErrorCode.OFFLINE, f"not sent: {self.status.reason or 'backend not connected'}")
            return
        self._track_following(entry.request)

    @staticmethod
    def _send_frames(dealer: zmq.Socket, frames: list[Any]) -> bool:
        try:
            dealer.send_multipart(frames, zmq.NOBLOCK, copy=False)
            return True
        except zmq.ZMQError:
            return False

    def _send_internal(self, dealer: zmq.Socket, request: Request) -> None:
        request_id, frames = self._framer.encode(request)
        with self._lock:
            self._pending[request_id] = _Pending(request, None, time.monotonic(), internal=True)
        if not (self._tcp_up and self._send_frames(dealer, frames)):
            with self._lock:
                self._pending.pop(request_id, None)

    def _track_following(self, request: Request) -> None:
        with self._lock:
            if isinstance(request, Attach):
                self._followed[request.job_id] = request.since_seq
                if request.follow:
                    self._reattach_jobs.add(request.job_id)
            elif isinstance(request, Detach):
                self._followed.pop(request.job_id, None)
                self._reattach_jobs.discard(request.job_id)

    def _receive(self, dealer: zmq.Socket) -> None:
        for _ in range(1000):
            try:
                frames = dealer.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                envelope = self._framer.decode(frames)
            except FrameRejected as exc:
                self._on_rejected(frames, exc)
                continue
            self._last_rx = time.monotonic()
            header, message = envelope.header, envelope.message
            if header.re is not None:
                self._on_reply(dealer, header, message)
            else:
                self._on_push(header, message)

    def _on_rejected(self, frames: list[Any], exc: FrameRejected) -> None:
        if len(frames) == 3 and frames[0].bytes == VERSION_FRAME and tuple(f.bytes for f in frames[1:]) == AUTH_FAILURE_NOTICE:
            self._set_status(
                ConnectionState.OFFLINE,
                "signature mismatch: the backend cannot verify this client's messages; the key in the "
                "connection file is not the running backend's (re-read the file the backend wrote)",
            )
        elif exc.code is ErrorCode.UNSUPPORTED_VERSION:
            self._set_status(ConnectionState.OFFLINE, f"version mismatch: {exc.message}")
        else:
            log.warning("dropped a message from the backend: %s", exc)

    def _on_reply(self, dealer: zmq.Socket, header: Header, message: Message) -> None:
        with self._lock:
            entry = self._pending.pop(header.re, None)  # type: ignore[arg-type]
        if entry is None:
            log.debug("dropped a reply to unknown or expired request %s", header.re)
            return
        if entry.internal:
            self._on_internal_reply(dealer, entry.request, message)
            return
        if isinstance(entry.request, Submit) and entry.request.follow and isinstance(message, Submitted):
            with self._lock:
                self._followed.setdefault(message.job.job_id, 0)
                self._reattach_jobs.add(message.job.job_id)
        if entry.future is not None:
            if isinstance(message, Error):
                _settle(entry.future, exception=RemoteError(message.code, message.message, **message.details))
            else:
                _settle(entry.future, result=message)
        else:
            self.inbox.put(Incoming("reply", message, header, request_id=header.re))

    def _on_internal_reply(self, dealer: zmq.Socket, request: Request, message: Message) -> None:
        if isinstance(request, Attach):
            if isinstance(message, Error):  # the job is gone (e.g. the backend's store was wiped)
                with self._lock:
                    self._followed.pop(request.job_id, None)
                    self._reattach_jobs.discard(request.job_id)
                self.inbox.put(Incoming("push", replace(message, details={**message.details, "job_id": request.job_id})))
            return
        if isinstance(message, Welcome):
            if message.protocol_version[:1] != PROTOCOL_VERSION[:1]:
                self._set_status(ConnectionState.OFFLINE, f"version mismatch: backend speaks {message.protocol_version}")
                return
            self._adopt_limits(message)
            was_connected = self.status.state is ConnectionState.CONNECTED
            self._set_status(ConnectionState.CONNECTED, "", message)
            if not was_connected:
                self._reattach(dealer)
        elif isinstance(message, Error):
            if message.code is ErrorCode.UNSUPPORTED_VERSION:
                self._set_status(ConnectionState.OFFLINE, f"version mismatch: {message.message}")
            else:
                self._set_status(ConnectionState.OFFLINE, f"backend refused {request.TYPE}: {message.message}")

    def _adopt_limits(self, welcome: Welcome) -> None:
        """Check outgoing messages against the backend's limits too, so oversize is refused here, with a reason."""
        sizes = {k: min(v, getattr(self.limits, k)) for k, v in welcome.limits.items() if hasattr(self.limits, k) and v > 0}
        try:
            self._framer.limits = replace(self.limits, **sizes)
        except (TypeError, ValueError):
            log.warning("ignoring the backend's limits %s", welcome.limits)

    def _reattach(self, dealer: zmq.Socket) -> None:
        """After (re)connecting, ask again for every live-followed job's events since the last one seen."""
        with self._lock:
            jobs = {job_id: self._followed.get(job_id, 0) for job_id in self._reattach_jobs}
        for job_id, seq in jobs.items():
            self._send_internal(dealer, Attach(job_id=job_id, since_seq=seq, follow=True))

    def _on_push(self, header: Header, message: Message) -> None:
        if isinstance(message, Events):
            with self._lock:
                last = self._followed.get(message.job_id)
                if last is None:
                    return
                fresh = tuple(e for e in message.events if e.seq > last)
                if fresh:
                    self._followed[message.job_id] = fresh[-1].seq
            if fresh or message.job is not None:
                self.inbox.put(Incoming("push", replace(message, events=fresh), header))
        elif isinstance(message, Preview):
            with self._lock:
                if message.job_id not in self._followed:
                    return
            self.inbox.put(Incoming("push", message, header))
        elif isinstance(message, Error):  # refused before the backend could tell which request it was
            log.warning("the backend refused a message: %s: %s", message.code.value, message.message)
            self.inbox.put(Incoming("push", message, header))
        else:
            log.debug("dropped an unexpected push of type %s", message.TYPE)

    def _on_monitor(self, monitor: zmq.Socket, dealer: zmq.Socket) -> None:
        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return
            kind = event["event"]
            if kind == zmq.EVENT_CONNECTED:
                self._tcp_seen = True
                self._set_status(ConnectionState.CONNECTING, "handshaking")
            elif kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:  # the pipe is attached: sends go through now
                self._tcp_up = True
                self._handshake_problem = None
                self._last_rx = self._last_beat = time.monotonic()
                self._send_internal(dealer, Hello(client=self.name))
            elif kind & _HANDSHAKE_FAILED:
                self._handshake_problem = self._handshake_failure()
                self._set_status(ConnectionState.OFFLINE, self._handshake_problem)
            elif kind == zmq.EVENT_DISCONNECTED:
                self._tcp_up = False
                self._set_status(ConnectionState.OFFLINE, self._handshake_problem or f"disconnected from {self.info.url}; reconnecting")
            elif kind == zmq.EVENT_CONNECT_RETRIED:
                if not self._tcp_seen:  # no TCP connection at all since the last try
                    self._set_status(
                        ConnectionState.OFFLINE,
                        f"connection refused at {self.info.url}: is `distill3d serve` running there?",
                    )
                self._tcp_seen = False

    def _housekeeping(self, dealer: zmq.Socket) -> None:
        now = time.monotonic()
        if self._tcp_up and now - self._last_beat >= self.heartbeat_s:
            self._last_beat = now
            state = self.status.state
            self._send_internal(dealer, Ping() if state is ConnectionState.CONNECTED else Hello(client=self.name))
            if state is ConnectionState.CONNECTED and now - self._last_rx > self.offline_after_s:
                self._set_status(ConnectionState.OFFLINE, f"no reply from the backend for {now - self._last_rx:.0f} s")
        with self._lock:
            expired = [k for k, e in self._pending.items() if now - e.sent_at > self.request_timeout_s]
        for request_id in expired:
            self._answer_locally(request_id, ErrorCode.TIMEOUT, f"no reply within {self.request_timeout_s:.0f} s")

    # ----------------------------------------------------------------- helpers

    def _answer_locally(self, request_id: str, code: ErrorCode, message: str) -> None:
        """Answer a pending request here (it was not sent, or nothing came back)."""
        with self._lock:
            entry = self._pending.pop(request_id, None)
        if entry is None or entry.internal:
            return
        if entry.future is not None:
            _settle(entry.future, exception=ProtocolError(code, message))
        else:
            self.inbox.put(Incoming("reply", Error(code=code, message=message), None, request_id=request_id))

    def _fail_all_pending(self, reason: str) -> None:
        with self._lock:
            request_ids = list(self._pending)
        for request_id in request_ids:
            self._answer_locally(request_id, ErrorCode.OFFLINE, reason)

    def _set_status(self, state: ConnectionState, reason: str, welcome: Welcome | None = None) -> None:
        with self._status_changed:
            old = self._status
            if welcome is None and state is ConnectionState.CONNECTED:
                welcome = old.welcome
            new = Status(state, reason, welcome)
            if (old.state, old.reason) == (new.state, new.reason) and old.welcome is new.welcome:
                return
            self._status = new
            self._status_changed.notify_all()
        if old.state is not new.state or old.reason != new.reason:
            log.info("backend %s: %s %s", self.info.url, state.value, reason)
        self.inbox.put(Incoming("status", status=new))


def _settle(future: Future, *, result: Any = None, exception: BaseException | None = None) -> None:
    """Resolve a future unless its owner cancelled it meanwhile."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
