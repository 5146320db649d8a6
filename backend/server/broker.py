"""The broker: turns frames from the ROUTER socket into replies, jobs and event streams.

Order of trust for every incoming message (see :mod:`protocol.framing`): shape
and size limits, version, signature, replay check, then decoding. What fails
before the signature is answered with a rate-limited error (or, for a bad
signature, a rate-limited unsigned notice) and counted; what fails after it is
answered with a typed error naming the request. A handler that raises never
takes the server down: the client gets ``internal`` and the log the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import Counter
from typing import Any, Callable

import zmq

from protocol import __version__
from protocol.buffers import Blob
from protocol.errors import ErrorCode, FrameRejected, ProtocolError
from protocol.framing import VERSION_FRAME, Envelope, Framer
from protocol.messages import (
    PROTOCOL_VERSION,
    Ack,
    Attach,
    Cancel,
    Detach,
    Error,
    Event,
    Events,
    FetchResult,
    GetJob,
    GetStats,
    Hello,
    JobInfo,
    JobList,
    JobStatus,
    CancelPull,
    ListJobs,
    ListModels,
    Message,
    MethodInfo,
    ModelInfo,
    ModelList,
    Ping,
    Pong,
    Preview,
    PruneJobs,
    Pruned,
    PullModels,
    PullStatus,
    ReleaseGpu,
    ResultChunk,
    ServerStats,
    Submit,
    Submitted,
    Welcome,
)
from protocol.codec import pack
from protocol.schema import SchemaError, to_plain
from protocol.transport import AUTH_FAILURE_NOTICE

from .. import methods
from ..methods.configs import describe, required_models
from ..teachers import registry
from ..methods.footprints import shipped
from .disk import reported_as_disk_full
from .images import DEFAULT_MAX_PIXELS
from .model_pulls import ModelPulls
from .outbox import Outbox
from .rate import RateLimiter
from .replay_log import ReplayLog
from .scheduler import Scheduler
from .store import JobStore
from .submission import prepare, spec_digest
from .subscriptions import Subscriptions

log = logging.getLogger(__name__)

EVENT_BATCH = 256
STATE_CHANGING = (Submit, Cancel, PruneJobs, PullModels, CancelPull)
"""Requests whose replay after a restart would change something: recorded in the replay log before they are handled."""


def rss_bytes() -> int:
    """Resident memory of this process (Linux: current; elsewhere: peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def method_infos() -> tuple[MethodInfo, ...]:
    footprints = shipped()
    return tuple(
        MethodInfo(
            name=e.name,
            description=e.description,
            presets=tuple(sorted(e.presets)),
            default_preset=e.default_preset,
            params=tuple(describe(e.config_class)),
            needs_image=e.needs_image,
            needs_prompt=e.needs_prompt,
            role=e.role,
            footprints=footprints.of(e.name),
            models={preset: roles for preset in sorted(e.presets) if (roles := required_models(e, preset))},
        )
        for e in methods.entries()
    )


def model_infos() -> tuple[ModelInfo, ...]:
    """Every registry role as it resolves on this machine now; ValueError for a broken models config file."""
    infos = []
    for role in registry.ROLES.values():
        found = registry.resolve(role.role)
        infos.append(ModelInfo(role=role.role, state=found.state, reference=found.reference, licence=role.licence.name,
                               licence_url=role.licence.url, description=role.description, gated=role.gated,
                               download_bytes=role.download_size, bytes_on_disk=found.bytes_on_disk(), kept_bytes=found.kept_bytes(),
                               how_to_obtain="" if found.present else found.how_to_obtain()))  # fmt: skip
    return tuple(infos)


class Broker:
    """Handles every message from the ROUTER socket; owns subscriptions and the outbox."""

    def __init__(
        self,
        sock: zmq.Socket,
        framer: Framer,
        store: JobStore,
        scheduler: Scheduler,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_queued_jobs: int = 1000,
        replay_log: ReplayLog | None = None,
        pulls: ModelPulls | None = None,
    ) -> None:
        self.framer = framer
        self.replay_log = replay_log
        self.store = store
        self.scheduler = scheduler
        self.pulls = pulls or ModelPulls(store.root / "logs" / "pull.log")
        self.max_pixels = max_pixels
        self.max_queued_jobs = max_queued_jobs
        self.outbox = Outbox(sock)
        self.subscriptions = Subscriptions()
        self.dropped: Counter[str] = Counter()
        self.started = time.monotonic()
        self._unauthenticated_replies = RateLimiter(rate=50, burst=100)
        self._drop_log = RateLimiter(rate=0.2, burst=5)
        self._methods: tuple[MethodInfo, ...] | None = None
        self._handlers: dict[type[Message], Callable[[bytes, Any], Message]] = {
            Hello: self._hello,
            Ping: self._ping,
            GetStats: self._stats,
            Submit: self._submit,
            GetJob: self._get_job,
            Cancel: self._cancel,
            Attach: self._attach,
            Detach: self._detach,
            ListJobs: self._list_jobs,
            FetchResult: self._fetch_result,
            ReleaseGpu: self._release_gpu,
            PruneJobs: self._prune_jobs,
            ListModels: self._list_models,
            PullModels: self._pull_models,
            CancelPull: self._cancel_pull,
        }

    # ------------------------------------------------------------- incoming

    def handle(self, frames: list[Any]) -> None:
        """One multipart message from the ROUTER socket: ``[peer, *message frames]``."""
        peer, frames = frames[0].bytes, frames[1:]
        try:
            envelope = self.framer.decode(frames)
        except FrameRejected as exc:
            self._reject(peer, exc)
            return
        handler = self._handlers.get(type(envelope.message))
        if handler is None:  # a reply or push type sent as a request
            self._reject(peer, FrameRejected(ErrorCode.UNKNOWN_TYPE, f"{envelope.header.type} is not a request", request_id=envelope.header.id))
            return
        self._answer(peer, envelope, handler)

    def _answer(self, peer: bytes, envelope: Envelope, handler: Callable[[bytes, Any], Message]) -> None:
        try:
            if self.replay_log is not None and isinstance(envelope.message, STATE_CHANGING):
                with reported_as_disk_full(self.store.root, "the replay guard's record"):
                    self.replay_log.record(envelope.header)  # unrecorded, it could be replayed after a restart: refused
            with reported_as_disk_full(self.store.root, f"what {envelope.header.type} needed"):
                reply = handler(peer, envelope.message)
        except ProtocolError as exc:
            reply = error_reply(exc.code, exc.message, exc.details)
        except Exception:
            log.exception("handler for %s failed", envelope.header.type)
            reply = error_reply(ErrorCode.INTERNAL, f"the backend failed to handle {envelope.header.type}; see its log")
        self._send(peer, reply, re=envelope.header.id)

    def _send(self, peer: bytes, message: Message, re: str | None = None) -> bool:
        """Encode and send (or queue); a message over the size limits becomes a ``too_large`` error."""
        try:
            frames = self.framer.encode(message, re=re)[1]
        except ProtocolError as exc:
            frames = self.framer.encode(error_reply(exc.code, f"the reply is too large: {exc.message}"), re=re)[1]
        if self.outbox.send(peer, frames):
            return True
        self.dropped["undeliverable"] += 1
        return False

    def _reject(self, peer: bytes, exc: FrameRejected) -> None:
        self.dropped[exc.reason] += 1
        if self._drop_log.allow():
            log.warning("refused a message from peer %s: %s (refused so far: %s)", peer.hex(), exc, dict(self.dropped))
        if exc.request_id is not None:  # signed and readable: the client deserves a precise answer
            self._send(peer, error_reply(exc.code, exc.message), re=exc.request_id)
        elif self._unauthenticated_replies.allow():
            if exc.reason == "bad_signature":
                self.outbox.send(peer, [VERSION_FRAME, *AUTH_FAILURE_NOTICE])
            elif exc.reply:
                self._send(peer, error_reply(exc.code, exc.message))

    # ------------------------------------------------------------- handlers

    def _hello(self, peer: bytes, message: Hello) -> Welcome:
        if self._methods is None:
            self._methods = method_infos()
        log.info("hello from %s (%s)", message.client or "a client", peer.hex())
        return Welcome(
            server_version=__version__,
            protocol_version=PROTOCOL_VERSION,
            devices=tuple(w.device for w in self.scheduler.workers),
            methods=self._methods,
            limits={
                "max_body_bytes": self.framer.limits.max_body_bytes,
                "max_buffer_bytes": self.framer.limits.max_buffer_bytes,
                "max_message_bytes": self.framer.limits.max_message_bytes,
                "max_image_pixels": self.max_pixels,
            },
        )

    def _ping(self, peer: bytes, message: Ping) -> Pong:
        return Pong(server_time=time.time())

    def _stats(self, peer: bytes, message: GetStats) -> ServerStats:
        return ServerStats(
            rss_bytes=rss_bytes(),
            uptime_s=time.monotonic() - self.started,
            peers=self.subscriptions.peers,
            subscriptions=len(self.subscriptions),
            queued_jobs=len(self.scheduler.queue),
            running_jobs=tuple(self.scheduler.running_jobs()),
            worker_restarts=self.scheduler.restarts,
            worker_pids=tuple(w.process.pid for w in self.scheduler.workers if w.process is not None),
            dropped=dict(self.dropped),
        )

    def _submit(self, peer: bytes, message: Submit) -> Submitted:
        spec = message.job
        if spec.client_key:
            existing = self.store.find_by_client_key(spec.client_key)
            if existing is not None:
                job, digest = existing
                if digest != spec_digest(spec):
                    raise ProtocolError(
                        ErrorCode.IDEMPOTENCY_CONFLICT,
                        f"client key {spec.client_key!r} was used for job {job.job_id} with a different spec",
                        job_id=job.job_id,
                    )
                if message.follow:
                    self._follow(peer, job.job_id, 0, True)
                return Submitted(job=job, created=False)
        if len(self.scheduler.queue) >= self.max_queued_jobs:
            raise ProtocolError(ErrorCode.QUEUE_FULL, f"{len(self.scheduler.queue)} jobs are already queued; try again later")
        if message.follow and not self.subscriptions.can_follow(peer):
            raise ProtocolError(ErrorCode.TOO_LARGE, "this client follows too many jobs; detach some first")
        prepared = prepare(spec, max_pixels=self.max_pixels)
        job = self.store.create(
            method=prepared.method,
            preset=prepared.preset,
            spec=prepared.spec,
            config=prepared.config,
            digest=prepared.digest,
            prompt=spec.prompt,
            seed=prepared.spec["seed"],
            client_key=spec.client_key,
            image=prepared.image,
            arrays=prepared.arrays,
        )
        log.info("job %s submitted: %s/%s", job.job_id, job.method, job.preset)
        if message.follow:
            self._follow(peer, job.job_id, 0, True)
        self.scheduler.enqueue(job.job_id)
        return Submitted(job=self.store.get(job.job_id), created=True)

    def _follow(self, peer: bytes, job_id: str, since_seq: int, follow: bool) -> None:
        if not self.subscriptions.subscribe(peer, job_id, since_seq, follow):
            raise ProtocolError(ErrorCode.TOO_LARGE, "this client follows too many jobs; detach some first")

    def _get_job(self, peer: bytes, message: GetJob) -> JobStatus:
        return JobStatus(job=self.store.get(message.job_id))

    def _cancel(self, peer: bytes, message: Cancel) -> JobStatus:
        return JobStatus(job=self.scheduler.cancel(message.job_id))

    def _attach(self, peer: bytes, message: Attach) -> JobStatus:
        job = self.store.get(message.job_id)
        self._follow(peer, job.job_id, min(message.since_seq, job.last_seq), message.follow)
        return JobStatus(job=job)

    def _detach(self, peer: bytes, message: Detach) -> Ack:
        self.store.get(message.job_id)
        self.subscriptions.unsubscribe(peer, message.job_id)
        return Ack()

    def _list_jobs(self, peer: bytes, message: ListJobs) -> JobList:
        """Newest first, as many as asked for and as fit in one reply (``total`` says how many match)."""
        jobs, total = self.store.list(message.limit, message.states)
        budget = self.framer.limits.max_body_bytes - 4096
        fitting = []
        for job in jobs:
            budget -= len(pack(to_plain(job)))
            if budget < 0:
                break
            fitting.append(job)
        return JobList(jobs=tuple(fitting), total=total)

    def _fetch_result(self, peer: bytes, message: FetchResult) -> ResultChunk:
        reader = self.store.result_reader(message.job_id)
        offset, data, digest = reader.read_chunk(message.item, message.chunk)
        return ResultChunk(
            job_id=message.job_id, item=message.item, chunk=message.chunk, offset=offset, data=Blob(data, sha256=digest)
        )

    def _prune_jobs(self, peer: bytes, message: PruneJobs) -> Pruned:
        return self.prune(message.max_bytes, message.keep_days)

    def prune(self, max_bytes: int | None, keep_days: float | None) -> Pruned:
        """:meth:`.store.JobStore.prune`, sparing the jobs clients follow."""
        return self.store.prune(max_bytes, keep_days, protected=self.subscriptions.followed_jobs)

    def _list_models(self, peer: bytes, message: ListModels) -> ModelList:
        try:
            models = model_infos()
        except ValueError as exc:  # the backend's models config file is broken
            raise ProtocolError(ErrorCode.MISSING_MODEL, f"cannot list the models: {exc}") from None
        return ModelList(models=models, pull=self.pulls.current())

    def _pull_models(self, peer: bytes, message: PullModels) -> PullStatus:
        return PullStatus(pull=self.pulls.start(message.roles, message.token))

    def _cancel_pull(self, peer: bytes, message: CancelPull) -> PullStatus:
        return PullStatus(pull=self.pulls.cancel())

    def _release_gpu(self, peer: bytes, message: ReleaseGpu) -> Ack:
        asked = self.scheduler.release_gpu()
        return Ack(detail=f"{asked} idle worker(s) asked to release cached models and GPU memory")

    # ------------------------------------------------------------- outgoing

    def job_changed(self, job_id: str) -> None:
        self.subscriptions.job_changed(job_id)

    def pump(self) -> None:
        """Send pending events/previews to every subscriber that can take them now."""
        self.outbox.flush()
        self._forget_gone_peers()
        for peer, job_id in list(self.subscriptions.dirty):
            if self.outbox.backlogged(peer):
                continue
            try:
                self._pump_one(peer, job_id)
            except Exception:  # one job's unreadable store must not stop every other client's stream
                self.dropped["pump_failed"] += 1
                if self._drop_log.allow():
                    log.exception("could not send job %s's events to peer %s; it stops following that job", job_id, peer.hex())
                self.subscriptions.unsubscribe(peer, job_id)
        self._forget_gone_peers()

    def _forget_gone_peers(self) -> None:
        for peer in self.outbox.gone:
            self.subscriptions.drop_peer(peer)
        self.outbox.gone.clear()

    def _pump_one(self, peer: bytes, job_id: str) -> None:
        cursor = self.subscriptions.cursor(peer, job_id)
        if cursor is None:
            self.subscriptions.dirty.discard((peer, job_id))
            return
        job = self.store.get(job_id)
        events = self.store.events_since(job_id, cursor.seq, EVENT_BATCH)
        reach = events[-1].seq if events else cursor.seq
        preview = job.preview
        if preview is not None and cursor.preview_seq < preview.seq <= reach:
            # the image goes first, so a client that stops at the final state event already has it
            stored = self.store.preview(job_id)
            if stored is not None:
                info, data = stored
                if not self._send(peer, Preview(job_id=job_id, info=info, image=Blob(data))):
                    return
                cursor.preview_seq = info.seq
        if events:
            frames = self._encode_batch(job, events)  # may cut the batch to fit
            if not self.outbox.send(peer, frames):
                return
            cursor.seq = events[-1].seq
        if cursor.seq >= job.last_seq:
            self.subscriptions.dirty.discard((peer, job_id))
            if not cursor.follow or job.state.finished:  # a finished job has nothing more to say
                self.subscriptions.unsubscribe(peer, job_id)

    def _encode_batch(self, job: JobInfo, events: list[Event]) -> list[Any]:
        """Frames for an ``events`` push; ``events`` is cut (in place) until the push fits the size limits."""
        while True:
            caught_up = events[-1].seq >= job.last_seq
            try:
                return self.framer.encode(Events(job_id=job.job_id, events=tuple(events), job=job if caught_up else None))[1]
            except ProtocolError:
                if len(events) == 1:
                    raise
                del events[len(events) // 2 :]


def error_reply(code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> Error:
    """An :class:`Error` that can always be built: the message is clipped, unusable details are dropped."""
    try:
        return Error(code=code, message=message, details=details or {})
    except SchemaError:
        return Error(code=code, message=message)
