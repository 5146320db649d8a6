"""Queue, workers and job state: what runs where, and what happens when it ends.

Everything here runs on the broker's thread and never waits for a worker:
workers are fed through pipes, watched through their sentinels, cancelled
through a shared event and killed (without waiting) when a cancel is not
honoured within the grace period.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Callable

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import DeviceInfo, ErrorInfo, JobInfo, JobState, ResultManifest
from protocol.schema import SchemaError, from_plain

from .. import methods
from .rate import RateLimiter
from .store import JobStore
from .workers import WorkerHandle

log = logging.getLogger(__name__)

MAX_START_FAILURES = 3
"""A worker that dies this many times in a row before becoming ready is not restarted again."""


class Scheduler:
    """Runs queued jobs on workers; reports every new event through ``notify(job_id)``."""

    def __init__(
        self,
        store: JobStore,
        workers: list[WorkerHandle],
        notify: Callable[[str], None],
        *,
        cancel_grace_s: float = 10.0,
        unresponsive_s: float = 120.0,
    ) -> None:
        self.store = store
        self.workers = workers
        self.notify = notify
        self.cancel_grace_s = cancel_grace_s
        self.unresponsive_s = unresponsive_s
        self.queue: deque[str] = deque()
        self.restarts = 0
        self.dropped_events = 0
        """Worker events not logged because the disk was full."""
        self._drop_log = RateLimiter(rate=0.2, burst=3)
        self._start_failures = {w.index: 0 for w in workers}

    # ------------------------------------------------------------------ jobs

    def enqueue(self, job_id: str) -> None:
        self.queue.append(job_id)
        self.dispatch()

    def running_jobs(self) -> list[str]:
        return [w.job_id for w in self.workers if w.job_id is not None]

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a job: at once when queued, at its next step when running; finished jobs are left as they are."""
        info = self.store.get(job_id)
        if info.state is JobState.QUEUED:
            self.queue.remove(job_id)
            info = self.store.transition(job_id, JobState.CANCELLED)
            self.notify(job_id)
        elif info.state is JobState.RUNNING and not info.cancel_requested:
            info = self.store.update(job_id, cancel_requested=True)
            for worker in self.workers:
                if worker.job_id == job_id:
                    worker.request_cancel()
            self.store.note(job_id, "log", {"level": "info", "message": "cancel requested"})
            self.notify(job_id)
        return self.store.get(job_id)

    def dispatch(self) -> None:
        """Start queued jobs on idle workers; fail them when no worker can ever run them."""
        if self.queue and self.workers and all(w.device.kind == "unavailable" for w in self.workers):
            reason = "; ".join(w.device.detail for w in self.workers)
            while self.queue:
                self._finish(self.queue.popleft(), JobState.FAILED, ErrorInfo(code=ErrorCode.JOB_FAILED, message=f"no usable device: {reason}"))
            return
        for worker in self.workers:
            if not self.queue:
                return
            if not worker.idle:
                continue
            job_id = self.queue.popleft()
            if worker.run(job_id, str(self.store.job_dir(job_id))):
                self.store.transition(job_id, JobState.RUNNING)
                self.notify(job_id)
            else:
                self.queue.appendleft(job_id)

    # --------------------------------------------------------------- workers

    def on_worker_readable(self, worker: WorkerHandle) -> None:
        self._handle(worker, worker.receive())
        self.dispatch()

    def _handle(self, worker: WorkerHandle, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            kind = message.get("t")
            try:
                if kind == "ready":
                    self._start_failures[worker.index] = 0
                    log.info("worker %d ready on %s %s", worker.index, worker.device.kind, worker.device.name or worker.device.detail)
                elif kind == "event":
                    self._on_job_event(worker, message)
                elif kind == "finished":
                    self._on_finished(worker, message)
            except Exception:  # a malformed report must not cost the broker, nor strand the job
                log.exception("worker %d sent a message that could not be applied: %.200r", worker.index, message)
                if kind == "finished" and worker.job_id is not None:
                    job_id, worker.job_id = worker.job_id, None
                    self._finish(job_id, JobState.FAILED, ErrorInfo(code=ErrorCode.INTERNAL, message="the worker reported the end of this job in a form the server could not read; see the server log"))

    def on_worker_exit(self, worker: WorkerHandle) -> None:
        """The worker process died: fail its job, start a new one (unless it cannot even start)."""
        self._handle(worker, worker.receive())  # what it said before dying (maybe that its job finished)
        reason = worker.exit_reason()
        job_id = worker.job_id
        job = self.store.get(job_id) if job_id is not None else None
        if job is not None and not job.state.finished:
            if job.cancel_requested:
                self._finish(job.job_id, JobState.CANCELLED, None)
            elif worker.unresponsive:
                self._unresponsive(job)
            else:
                message = f"the worker process died ({reason}) while running this job"
                self._finish(job.job_id, JobState.FAILED, ErrorInfo(code=ErrorCode.WORKER_CRASHED, message=message))
        was_ready = worker.ready
        worker.close()
        worker.job_id = None
        log.error("worker %d died (%s)%s", worker.index, reason, f" while running {job_id}" if job_id else "")
        self._start_failures[worker.index] = 0 if was_ready else self._start_failures[worker.index] + 1
        if self._start_failures[worker.index] >= MAX_START_FAILURES:
            worker.device = DeviceInfo(
                kind="unavailable", detail=f"the worker process dies on start-up ({reason}); see the server log"
            )
            log.error("worker %d failed to start %d times; not restarting it", worker.index, MAX_START_FAILURES)
        else:
            self.restarts += 1
            worker.start()
        self.dispatch()

    def tick(self, now: float | None = None) -> None:
        """Kill workers that ignore a cancel for longer than the grace period, or fall silent for ``unresponsive_s``
        while running a job (stopped, frozen: no heartbeat)."""
        now = time.monotonic() if now is None else now
        for worker in self.workers:
            if worker.job_id is None:
                continue
            if not worker.unresponsive and now - worker.last_heard > self.unresponsive_s and worker.alive():
                log.error("worker %d has said nothing for %.0f s while running job %s; killing it", worker.index, now - worker.last_heard, worker.job_id)
                worker.unresponsive = True
                worker.kill()  # on_worker_exit follows through the sentinel
                continue
            if worker.cancel_requested_at is None:
                continue
            if now - worker.cancel_requested_at > self.cancel_grace_s and worker.alive():
                log.warning(
                    "worker %d did not stop job %s within %.0f s of the cancel; killing it",
                    worker.index, worker.job_id, self.cancel_grace_s,
                )
                worker.kill()  # on_worker_exit follows through the sentinel

    def release_gpu(self) -> int:
        """Ask idle workers to drop cached models; returns how many were asked."""
        return sum(1 for w in self.workers if w.idle and w.release())

    def shutdown(self) -> None:
        """Stop the workers; a running job of a resumable method goes back to the queue (it continues from its
        checkpoint when a server next starts on this data dir), any other fails ``interrupted``."""
        for worker in self.workers:
            job_id = worker.job_id
            worker.stop()
            if job_id is None or self.store.get(job_id).state.finished:
                continue
            info = self.store.get(job_id)
            if methods.is_resumable(info.method) and not info.cancel_requested:
                self.store.requeue(job_id, "the server was stopped; the job continues from its last checkpoint when it starts again")
            else:
                self._finish(job_id, JobState.FAILED, ErrorInfo(code=ErrorCode.INTERRUPTED, message="the server was stopped while this job was running"))

    # --------------------------------------------------------------- helpers

    def _unresponsive(self, job: JobInfo) -> None:
        """A job whose worker was killed for its silence: back to the queue when its method resumes from checkpoints (at most
        :data:`.store.MAX_RESUMES` times), else failed ``worker_unresponsive``."""
        silent = f"its worker process said nothing for {self.unresponsive_s:.0f} s (stopped or frozen) and was killed"
        if methods.is_resumable(job.method) and self.store.count_resume(job.job_id):
            self.store.requeue(job.job_id, f"{silent}; the job continues from its last checkpoint")
            self.queue.append(job.job_id)
            self.notify(job.job_id)
        else:
            self._finish(job.job_id, JobState.FAILED, ErrorInfo(code=ErrorCode.WORKER_UNRESPONSIVE, message=f"{silent} while running this job"))

    def _on_job_event(self, worker: WorkerHandle, message: dict[str, Any]) -> None:
        job_id = message.get("job_id")
        if job_id != worker.job_id:
            return
        kind, data, payload = message.get("kind"), message.get("data") or {}, message.get("payload")
        at = message.get("time")
        at = float(at) if isinstance(at, (int, float)) else None
        try:
            if kind == "progress":
                self.store.record_progress(job_id, data, at)
            elif kind == "preview" and isinstance(payload, bytes):
                self.store.record_preview(job_id, data, payload, at)
            elif kind == "log":
                self.store.append_event(job_id, "log", data, at)
            else:
                return
        except (SchemaError, KeyError, TypeError, ValueError) as exc:
            log.error("job %s: dropped a malformed %s event from the worker: %s", job_id, kind, exc)
            return
        except ProtocolError as exc:  # a full disk: the job's own writes will fail it; its chatter is dropped meanwhile
            if exc.code is not ErrorCode.DISK_FULL:
                raise
            self.dropped_events += 1
            if self._drop_log.allow():
                log.error("job %s: dropped a %s event (%d so far): %s", job_id, kind, self.dropped_events, exc.message)
            return
        self.notify(job_id)

    def _on_finished(self, worker: WorkerHandle, message: dict[str, Any]) -> None:
        job_id = message.get("job_id")
        if job_id != worker.job_id:
            return
        state = JobState(message.get("state"))
        error = from_plain(ErrorInfo, message["error"]) if message.get("error") else None
        manifest = from_plain(ResultManifest, message["manifest"]) if state is JobState.SUCCEEDED else None
        worker.job_id = None
        worker.cancel_requested_at = None
        if manifest is not None:
            try:
                self.store.record_result(job_id, manifest)
            except ProtocolError as exc:  # not even the reserve could take it: the job must end all the same
                if exc.code is not ErrorCode.DISK_FULL:
                    raise
                state, error = JobState.FAILED, ErrorInfo(code=ErrorCode.DISK_FULL, message=exc.message)
        self._finish(job_id, state, error)

    def _finish(self, job_id: str, state: JobState, error: ErrorInfo | None) -> None:
        self.store.transition(job_id, state, error)
        self.store.forget_preview_bytes(job_id)
        self.notify(job_id)
