"""The job store: every job in a folder of its own under ``DATA/jobs``.

::

    jobs/<job_id>/spec.json      what was asked (the image is stored beside it)
                  config.json    the resolved config the method ran with
                  state.json     the JobInfo snapshot (written on every state change)
                  events.jsonl   the event log, one JSON object per line, seq from 1
                  preview.<ext>  the latest preview only
                  result/        items + manifest (see results.py)
                  work/          the method's scratch space and checkpoints

The broker is the only writer of everything but ``result/``, ``work/`` and
``traceback.txt`` (the worker's); that keeps sequence numbers in order without
locks. The event log is appended before ``state.json`` is rewritten, so after a
crash between the two, loading trusts the log.

A full disk loses nothing already written: an event is appended whole or not at all
(a failed append is cut back), a job is created whole or not at all, and the records
that end jobs may spend the data dir's reserve (:mod:`.disk`). Readers skip a line
they cannot read, with a log entry, and loading cuts a half-written last line.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import shutil
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Collection, Iterable

from protocol.atomic import append_record, write_bytes, write_json, write_text
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import ErrorInfo, Event, JobInfo, JobState, PreviewInfo, Progress, Pruned, ResultManifest
from protocol.schema import SchemaError, from_plain, to_plain

from ..job_layout import GENERATOR_FILE, WORK_DIR, generator_folder, jobs_folder
from .disk import Reserve, disk_full_error, is_disk_full, reported_as_disk_full, with_reserve
from .results import ResultReader

log = logging.getLogger(__name__)

MAX_RESUMES = 3
"""Times a resumable job is queued again after the server went down under it; then it fails ``interrupted``."""
RESUMES_FILE = "resumes"
"""In a job's folder: how many times it was queued again after a crash."""
_FINISHED_EVENT_CACHE_JOBS = 16
_PREVIEW_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}


def new_job_id(now: float) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + "-" + os.urandom(4).hex()


class JobStore:
    """Jobs on disk, with their current :class:`JobInfo` kept in memory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs_dir = jobs_folder(root)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, JobInfo] = {}
        self._digests: dict[str, str] = {}
        self._keys: dict[str, str] = {}
        self._events: OrderedDict[str, list[Event]] = OrderedDict()
        self._previews: dict[str, bytes] = {}
        self._readers: OrderedDict[str, ResultReader] = OrderedDict()
        self.reserve = Reserve(root)
        if not self.reserve.ensure():
            log.error("the data dir's disk (%s) is too full for its reserve; new jobs are refused until there is space", root)

    # ------------------------------------------------------------- lifecycle

    def load(
        self, disposable: Callable[[str, dict[str, Any]], bool] | None = None, resumable: Callable[[str], bool] | None = None
    ) -> list[str]:
        """Read every job; deal with the ones a previous server left running. Returns queued job ids, oldest first.

        A job left running (the server crashed) is cancelled when a cancel was pending; queued again when
        ``resumable(method)`` holds and it has been interrupted fewer than :data:`MAX_RESUMES` times (a job that
        keeps taking the server down must not do so forever); else failed (``interrupted``). Finished jobs for
        which ``disposable(method, config)`` holds (scrub previews) are deleted.
        """
        queued, deleted = [], 0
        for job_dir in sorted(p for p in self.jobs_dir.iterdir() if p.is_dir()):
            if not (job_dir / "state.json").exists():
                shutil.rmtree(job_dir, ignore_errors=True)  # a job whose creation never finished (state.json comes last)
                log.warning("removed %s: its creation never finished (no state.json)", job_dir.name)
                continue
            if (job_dir / "result.partial").exists():  # a result being written when the server went down; no worker runs yet
                shutil.rmtree(job_dir / "result.partial", ignore_errors=True)
                log.warning("%s: removed an unfinished result.partial", job_dir.name)
            try:
                info, digest = self._load_job(job_dir)
                if disposable is not None and info.state.finished and disposable(info.method, self._stored_config(job_dir)):
                    shutil.rmtree(job_dir)
                    deleted += 1
                    continue
            except (OSError, ValueError, KeyError, TypeError, SchemaError) as exc:
                log.error("skipping unreadable job folder %s: %s", job_dir.name, exc)
                continue
            self._jobs[info.job_id] = info
            self._digests[info.job_id] = digest
            if info.client_key:
                self._keys[info.client_key] = info.job_id
            if info.state is JobState.RUNNING and info.cancel_requested:
                self.transition(info.job_id, JobState.CANCELLED)
            elif info.state is JobState.RUNNING and resumable is not None and resumable(info.method) and self.count_resume(info.job_id):
                self.requeue(info.job_id, "the server stopped while this job was running; it continues from its last checkpoint")
                queued.append(info.job_id)
            elif info.state is JobState.RUNNING:
                self.transition(
                    info.job_id,
                    JobState.FAILED,
                    ErrorInfo(code=ErrorCode.INTERRUPTED, message="the server stopped while this job was running"),
                )
            elif info.state is JobState.QUEUED:
                queued.append(info.job_id)
        queued.sort(key=lambda job_id: self._jobs[job_id].created_at)
        if deleted:
            log.info("deleted %d finished transient jobs (scrub previews)", deleted)
        return queued

    def count_resume(self, job_id: str) -> bool:
        """Count one more interruption of ``job_id`` (in its folder's ``resumes`` file); False once it has had :data:`MAX_RESUMES`."""
        path = self.jobs_dir / job_id / RESUMES_FILE
        try:
            count = int(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            count = 0
        if count >= MAX_RESUMES:
            return False
        write_text(path, str(count + 1))
        return True

    def requeue(self, job_id: str, why: str) -> JobInfo:
        """Put a job that was running back in the queue, saying why in its log."""
        self.note(job_id, "log", {"level": "warning", "message": why})
        return self.transition(job_id, JobState.QUEUED)

    @staticmethod
    def _stored_config(job_dir: Path) -> dict[str, Any]:
        """The resolved config a job ran with (``config.json``'s ``config``)."""
        return json.loads((job_dir / "config.json").read_text(encoding="utf-8"))["config"]

    def _load_job(self, job_dir: Path) -> tuple[JobInfo, str]:
        """The job's snapshot, corrected by its event log (the log is written first, so it may be newer)."""
        state = json.loads((job_dir / "state.json").read_text(encoding="utf-8"))
        spec = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
        info: JobInfo = from_plain(JobInfo, state)
        events = _tail_events(job_dir / "events.jsonl")
        changes: dict[str, Any] = {"last_seq": events[-1].seq if events else 0}
        for event in reversed(events):
            if event.kind == "progress":
                changes["progress"] = from_plain(Progress, event.data)
                break
        last_state = next((e for e in reversed(events) if e.kind == "state"), None)
        if last_state is not None and last_state.data.get("state") != info.state.value:
            changes["state"] = JobState(last_state.data["state"])
            changes["error"] = from_plain(ErrorInfo, last_state.data["error"]) if "error" in last_state.data else None
            if changes["state"].finished:
                changes["finished_at"] = last_state.time
        return replace(info, **changes), spec["digest"]

    def create(
        self,
        *,
        method: str,
        preset: str,
        spec: dict[str, Any],
        config: dict[str, Any],
        digest: str,
        prompt: str,
        seed: int,
        client_key: str | None,
        image: tuple[bytes, str] | None,
        arrays: dict[str, Any] | None = None,
    ) -> JobInfo:
        """Write a new queued job; ``image`` is ``(bytes, extension)``, ``arrays`` numpy arrays by name."""
        if not self.reserve.ensure():
            raise disk_full_error(self.root, "a new job")
        now = time.time()
        job_id = new_job_id(now)
        job_dir = self.jobs_dir / job_id
        info = JobInfo(
            job_id=job_id, method=method, preset=preset, state=JobState.QUEUED, created_at=now,
            client_key=client_key, prompt=prompt, seed=seed, last_seq=1,
        )
        event = Event(seq=1, time=now, kind="state", data={"state": JobState.QUEUED.value})
        try:
            with reported_as_disk_full(self.root, "a new job"):
                self._write_job(job_dir, dict(spec, digest=digest), {"method": method, "preset": preset, "config": config}, image, arrays, info, event)
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)  # no half-made job stays behind
            raise
        self._jobs[job_id] = info
        self._digests[job_id] = digest
        if client_key:
            self._keys[client_key] = job_id
        self._events[job_id] = [event]
        return info

    @staticmethod
    def _write_job(job_dir: Path, spec: dict[str, Any], config: dict[str, Any], image: tuple[bytes, str] | None,
                   arrays: dict[str, Any] | None, info: JobInfo, event: Event) -> None:  # fmt: skip
        """Every file of a new job; ``state.json`` last, so a folder without it is a creation that never finished."""
        (job_dir / WORK_DIR).mkdir(parents=True)
        if image is not None:
            data, extension = image
            spec["image_file"] = f"input.{extension}"
            write_bytes(job_dir / spec["image_file"], data)
        if arrays:
            import numpy as np

            spec["array_files"] = {}
            for name, array in arrays.items():
                spec["array_files"][name] = f"input-{name}.npy"
                with open(job_dir / spec["array_files"][name], "wb") as f:
                    np.save(f, array, allow_pickle=False)
        write_json(job_dir / "spec.json", spec)
        write_json(job_dir / "config.json", config)
        write_bytes(job_dir / "events.jsonl", _event_line(event))
        write_json(job_dir / "state.json", to_plain(info))

    # ---------------------------------------------------------------- queries

    def get(self, job_id: str) -> JobInfo:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise ProtocolError(ErrorCode.UNKNOWN_JOB, f"no job {job_id!r} in this backend's store", job_id=job_id) from None

    def job_dir(self, job_id: str) -> Path:
        self.get(job_id)
        return self.jobs_dir / job_id

    def find_by_client_key(self, client_key: str) -> tuple[JobInfo, str] | None:
        """``(job, spec digest)`` of the job submitted with this idempotency key."""
        job_id = self._keys.get(client_key)
        return (self._jobs[job_id], self._digests[job_id]) if job_id else None

    def list(self, limit: int, states: Iterable[JobState] = ()) -> tuple[list[JobInfo], int]:
        """Newest first, at most ``limit``; and how many match in all."""
        wanted = set(states)
        jobs = [j for j in self._jobs.values() if not wanted or j.state in wanted]
        jobs.sort(key=lambda j: j.created_at, reverse=True)
        return jobs[:limit], len(jobs)

    def events_since(self, job_id: str, seq: int, limit: int) -> list[Event]:
        """Events with sequence numbers above ``seq``, at most ``limit``, in order."""
        events = self._cached_events(job_id)
        start = bisect.bisect_right(events, seq, key=lambda event: event.seq)  # ascending, with gaps where a line was unreadable
        return events[start : start + limit]

    def preview(self, job_id: str) -> tuple[PreviewInfo, bytes] | None:
        info = self.get(job_id).preview
        if info is None:
            return None
        data = self._previews.get(job_id)
        if data is None:
            path = self.jobs_dir / job_id / f"preview.{_PREVIEW_EXTENSIONS[info.media_type]}"
            try:
                data = path.read_bytes()
            except OSError:
                return None
        return info, data

    def result_reader(self, job_id: str) -> ResultReader:
        info = self.get(job_id)
        if info.state is not JobState.SUCCEEDED or info.result is None:
            raise ProtocolError(
                ErrorCode.NOT_READY, f"job {job_id} has no result: it is {info.state.value}", job_id=job_id
            )
        reader = self._readers.get(job_id)
        if reader is None:
            reader = ResultReader(self.jobs_dir / job_id / "result")
            self._readers[job_id] = reader
            while len(self._readers) > 32:
                self._readers.popitem(last=False)
        self._readers.move_to_end(job_id)
        return reader

    # ---------------------------------------------------------------- updates

    def append_event(self, job_id: str, kind: str, data: dict[str, Any], at: float | None = None, critical: bool = False) -> Event:
        """Log an event; ``at`` is when it happened (default now). A ``critical`` one (what ends or stops a job) may spend
        the reserve when the disk is full; others fail ``disk_full`` then."""
        info = self.get(job_id)
        event = Event(seq=info.last_seq + 1, time=time.time() if at is None else at, kind=kind, data=data)
        line = _event_line(event)
        path = self.jobs_dir / job_id / "events.jsonl"
        with reported_as_disk_full(self.root, f"an event of job {job_id}"):
            if critical:
                with_reserve(self.reserve, lambda: append_record(path, line))
            else:
                append_record(path, line)
        cached = self._events.get(job_id)
        if cached is not None:
            cached.append(event)
        elif info.last_seq == 0:
            self._events[job_id] = [event]
        self._jobs[job_id] = replace(info, last_seq=event.seq)
        return event

    def transition(self, job_id: str, state: JobState, error: ErrorInfo | None = None, **changes: Any) -> JobInfo:
        """Move a job to ``state`` (timestamps, state event, snapshot on disk)."""
        info = self.get(job_id)
        now = time.time()
        if state is JobState.RUNNING:
            changes.setdefault("started_at", now)
        if state.finished:
            changes.setdefault("finished_at", now)
        info = replace(info, state=state, error=error, **changes)
        self._jobs[job_id] = info
        data: dict[str, Any] = {"state": state.value}
        if error is not None:
            data["error"] = to_plain(error)
        self.note(job_id, "state", data)
        self._persist(self._jobs[job_id])
        return self._jobs[job_id]

    def note(self, job_id: str, kind: str, data: dict[str, Any]) -> Event | None:
        """:meth:`append_event` for records that must not fail what they record (a state change, a cancel): when even
        the reserve cannot take it, the server log says so and the caller goes on; None then."""
        try:
            return self.append_event(job_id, kind, data, critical=True)
        except ProtocolError as exc:
            if exc.code is not ErrorCode.DISK_FULL:
                raise
            log.error("job %s: a %s event %s was not logged: %s", job_id, kind, data, exc.message)
            return None

    def update(self, job_id: str, **changes: Any) -> JobInfo:
        """Change fields of a job's info and write the snapshot (no event)."""
        info = replace(self.get(job_id), **changes)
        self._jobs[job_id] = info
        self._persist(info)
        return info

    def record_progress(self, job_id: str, data: dict[str, Any], at: float | None = None) -> Event:
        progress = from_plain(Progress, data)
        self._jobs[job_id] = replace(self.get(job_id), progress=progress)
        return self.append_event(job_id, "progress", to_plain(progress), at)

    def record_preview(self, job_id: str, data: dict[str, Any], image: bytes, at: float | None = None) -> Event:
        """Store the latest preview (the image before its event; a full disk drops the preview, not the reserve)."""
        job_dir = self.jobs_dir / job_id
        path = job_dir / f"preview.{_PREVIEW_EXTENSIONS[data['media_type']]}"
        with reported_as_disk_full(self.root, f"a preview of job {job_id}"):
            write_bytes(path, image)
        event = self.append_event(job_id, "preview", data, at)
        info = PreviewInfo(seq=event.seq, media_type=data["media_type"], width=data["width"], height=data["height"])
        for other in _PREVIEW_EXTENSIONS.values():
            if other != path.suffix[1:]:
                (job_dir / f"preview.{other}").unlink(missing_ok=True)
        self._previews[job_id] = image
        self.update(job_id, preview=info)
        return event

    def record_result(self, job_id: str, manifest: ResultManifest) -> Event:
        self._readers.pop(job_id, None)
        self.update(job_id, result=manifest)
        return self.append_event(job_id, "result", {"items": [i.name for i in manifest.items]}, critical=True)

    def prune(self, max_bytes: int | None, keep_days: float | None, protected: Collection[str] = (), now: float | None = None) -> Pruned:
        """Delete finished jobs, oldest first: every one finished more than ``keep_days`` ago, then more until the store
        holds at most ``max_bytes``. Never an unfinished job, one in ``protected`` (followed by a client), or one holding
        a saved generator (``work/generator/generator.json``: hours of training, and other jobs' variants name it)."""
        now = time.time() if now is None else now
        sizes = {job_id: folder_bytes(self.jobs_dir / job_id) for job_id in self._jobs}
        total = sum(sizes.values())
        candidates = sorted(
            (job for job in self._jobs.values() if job.state.finished and job.job_id not in protected and not self._holds_generator(job.job_id)),
            key=lambda job: job.finished_at or job.created_at,
        )
        removed: list[str] = []
        for job in candidates:
            too_old = keep_days is not None and now - (job.finished_at or job.created_at) > keep_days * 86_400
            if not too_old and (max_bytes is None or total <= max_bytes):
                break  # the rest are younger, and the store fits
            self._delete(job.job_id)
            total -= sizes[job.job_id]
            removed.append(job.job_id)
        freed = sum(sizes[job_id] for job_id in removed)
        if removed:
            log.info("pruned %d finished jobs (%.1f MiB); the store holds %.1f MiB", len(removed), freed / 2**20, total / 2**20)
        return Pruned(job_ids=tuple(removed), freed_bytes=freed, kept_bytes=max(total, 0))

    def _holds_generator(self, job_id: str) -> bool:
        folder = generator_folder(self.jobs_dir, job_id)
        return folder is not None and (folder / GENERATOR_FILE).is_file()

    def _delete(self, job_id: str) -> None:
        """Remove a job from disk and memory."""
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
        info = self._jobs.pop(job_id)
        self._digests.pop(job_id, None)
        if info.client_key and self._keys.get(info.client_key) == job_id:
            del self._keys[info.client_key]
        self._events.pop(job_id, None)
        self._previews.pop(job_id, None)
        self._readers.pop(job_id, None)

    def forget_preview_bytes(self, job_id: str) -> None:
        """Drop the in-memory copy of a finished job's preview (it stays on disk)."""
        self._previews.pop(job_id, None)

    # ---------------------------------------------------------------- helpers

    def _persist(self, info: JobInfo) -> None:
        """Rewrite the job's ``state.json`` (spending the reserve if need be; with no space at all the server log says so
        and the event log, which loading trusts, keeps the state)."""
        try:
            with_reserve(self.reserve, lambda: write_json(self.jobs_dir / info.job_id / "state.json", to_plain(info)))
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            log.error("job %s: state.json not rewritten (%s, %s); its event log keeps the state", info.job_id, exc.strerror, self.root)

    def _cached_events(self, job_id: str) -> list[Event]:
        self.get(job_id)
        events = self._events.get(job_id)
        if events is None:
            events = _read_events(self.jobs_dir / job_id / "events.jsonl")
            self._events[job_id] = events
        self._events.move_to_end(job_id)
        finished = [j for j in self._events if self._jobs[j].state.finished]
        for old in finished[: max(0, len(finished) - _FINISHED_EVENT_CACHE_JOBS)]:
            del self._events[old]  # oldest-used finished jobs; unfinished jobs stay (they are being streamed)
        return events


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder`` (0 when it is gone)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _event_line(event: Event) -> bytes:
    """One event as its log line."""
    return (json.dumps(to_plain(event)) + "\n").encode("utf-8")


def _parse_events(path: Path, lines: Iterable[bytes]) -> list[Event]:
    """The events of ``lines`` in ascending seq; a line that does not read as an event, or does not follow the one
    before, is skipped with a log entry (never an exception: one bad line must not hide a job's other events)."""
    events: list[Event] = []
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            event = from_plain(Event, json.loads(line))
        except (ValueError, SchemaError, TypeError) as exc:
            skipped += 1
            if skipped == 1:
                log.warning("%s: skipped an unreadable event line (%s): %.120r", path, exc, line)
            continue
        if events and event.seq <= events[-1].seq:
            skipped += 1
            continue
        events.append(event)
    if skipped > 1:
        log.warning("%s: skipped %d unreadable or out-of-order event lines in all", path, skipped)
    return events


def _read_events(path: Path) -> list[Event]:
    with open(path, "rb") as f:
        return _parse_events(path, f)


def _tail_events(path: Path, tail_bytes: int = 1 << 16) -> list[Event]:
    """The complete events in the last ``tail_bytes`` of a log, after cutting a half-written last line.

    Event lines are far shorter than ``tail_bytes``, so the tail always holds the newest ones.
    """
    path.touch()
    size = path.stat().st_size
    with open(path, "rb+") as f:
        start = max(0, size - tail_bytes)
        f.seek(start)
        tail = f.read()
        if tail and not tail.endswith(b"\n"):  # a crash mid-append
            keep = tail.rfind(b"\n") + 1
            f.truncate(start + keep)
            tail = tail[:keep]
            log.warning("%s: removed a half-written last event", path)
    lines = tail.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first line of the tail may be the end of an older one
    return _parse_events(path, lines)
