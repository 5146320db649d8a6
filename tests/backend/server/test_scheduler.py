"""Scheduler decisions with a stand-in worker (no processes): the worker's side is scripted."""

from types import SimpleNamespace

import pytest

from protocol.errors import ErrorCode
from protocol.messages import DeviceInfo, JobState, ResultItem, ResultManifest
from protocol.schema import to_plain

from backend.server.scheduler import MAX_START_FAILURES, Scheduler
from backend.server.store import JobStore


class FakeWorker:
    def __init__(self, index=0):
        self.index = index
        self.device = DeviceInfo(kind="cpu")
        self.ready = True
        self.job_id = None
        self.cancel_requested_at = None
        self.inbox = []
        self.starts = 0
        self.cancelled = False
        self.killed = False
        self.exitcode_text = "exit code 1"
        self.process = SimpleNamespace(pid=1000 + index)
        self.last_heard = 0.0
        self.unresponsive = False

    @property
    def idle(self):
        return self.ready and self.job_id is None and self.device.kind == "cpu"

    def run(self, job_id, job_dir):
        self.job_id = job_id
        return True

    def receive(self):
        messages, self.inbox = self.inbox, []
        return messages

    def request_cancel(self):
        self.cancelled = True
        self.cancel_requested_at = 0.0

    def exit_reason(self):
        return self.exitcode_text

    def alive(self):
        return True

    def kill(self):
        self.killed = True

    def close(self):
        self.process = None

    def start(self):
        self.starts += 1
        self.ready = False
        self.process = SimpleNamespace(pid=2000 + self.starts)


def make(tmp_path, workers=1):
    store = JobStore(tmp_path)
    changed = []
    fakes = [FakeWorker(i) for i in range(workers)]
    scheduler = Scheduler(store, fakes, changed.append, cancel_grace_s=5)
    return store, scheduler, fakes, changed


def new_job(store):
    return store.create(method="testbed", preset="default", spec={}, config={}, digest="d", prompt="", seed=0, client_key=None, image=None).job_id


MANIFEST = ResultManifest(items=(ResultItem(name="a", kind="file", nbytes=1, nchunks=1),), chunk_bytes=4)


def test_finished_message_sent_just_before_dying_still_counts(tmp_path):
    store, scheduler, (worker,), _ = make(tmp_path)
    job = new_job(store)
    scheduler.enqueue(job)
    assert store.get(job).state is JobState.RUNNING and worker.job_id == job
    worker.inbox = [{"t": "finished", "job_id": job, "state": "succeeded", "error": None, "manifest": to_plain(MANIFEST)}]
    scheduler.on_worker_exit(worker)
    assert store.get(job).state is JobState.SUCCEEDED and store.get(job).result == MANIFEST
    assert worker.starts == 1 and scheduler.restarts == 1


def test_death_mid_job_fails_it_with_the_reason_and_runs_the_next(tmp_path):
    store, scheduler, (worker,), _ = make(tmp_path)
    first, second = new_job(store), new_job(store)
    scheduler.enqueue(first)
    scheduler.enqueue(second)
    assert store.get(second).state is JobState.QUEUED
    worker.exitcode_text = "signal 9 (SIGKILL)"
    scheduler.on_worker_exit(worker)
    failed = store.get(first)
    assert failed.state is JobState.FAILED and failed.error.code is ErrorCode.WORKER_CRASHED and "SIGKILL" in failed.error.message
    worker.inbox = [{"t": "ready", "device": {"kind": "cpu"}}]
    worker.ready = True
    scheduler.on_worker_readable(worker)
    assert store.get(second).state is JobState.RUNNING


def test_worker_that_keeps_dying_on_start_up_is_given_up_and_jobs_fail_clearly(tmp_path):
    store, scheduler, (worker,), _ = make(tmp_path)
    worker.ready = False
    for _ in range(MAX_START_FAILURES):
        scheduler.on_worker_exit(worker)
    assert worker.device.kind == "unavailable" and worker.starts == MAX_START_FAILURES - 1
    job = new_job(store)
    scheduler.enqueue(job)
    failed = store.get(job)
    assert failed.state is JobState.FAILED and "no usable device" in failed.error.message


def test_cancel_grace_kills_a_worker_that_ignores_the_cancel(tmp_path):
    store, scheduler, (worker,), changed = make(tmp_path)
    job = new_job(store)
    scheduler.enqueue(job)
    scheduler.cancel(job)
    assert worker.cancelled and store.get(job).cancel_requested and changed[-1] == job
    scheduler.tick(now=4.0)
    assert not worker.killed
    scheduler.tick(now=6.0)
    assert worker.killed
    scheduler.on_worker_exit(worker)
    assert store.get(job).state is JobState.CANCELLED


def test_events_from_a_stale_job_are_ignored_and_malformed_ones_dropped(tmp_path):
    store, scheduler, (worker,), _ = make(tmp_path)
    job = new_job(store)
    scheduler.enqueue(job)
    seq = store.get(job).last_seq
    worker.inbox = [
        {"t": "event", "job_id": "other", "kind": "progress", "data": {"stage": "s", "step": 1, "total": 2}},
        {"t": "event", "job_id": job, "kind": "progress", "data": {"stage": "s", "step": -5, "total": 2}},
        {"t": "event", "job_id": job, "kind": "progress", "data": {"stage": "s", "step": 1, "total": 2}, "time": 123.0},
    ]
    scheduler.on_worker_readable(worker)
    events = store.events_since(job, seq, 10)
    assert [(e.kind, e.data["step"], e.time) for e in events] == [("progress", 1, 123.0)]


def test_two_workers_run_two_jobs(tmp_path):
    store, scheduler, workers, _ = make(tmp_path, workers=2)
    jobs = [new_job(store) for _ in range(3)]
    for job in jobs:
        scheduler.enqueue(job)
    assert sorted(scheduler.running_jobs()) == sorted(jobs[:2]) and list(scheduler.queue) == [jobs[2]]


def test_malformed_finished_report_ends_the_job_as_failed(tmp_path):
    store, scheduler, (worker,), _ = make(tmp_path)
    job = new_job(store)
    scheduler.enqueue(job)
    worker.inbox = [{"t": "finished", "job_id": job, "state": "succeeded", "error": None, "manifest": {"items": "nope"}}]
    scheduler.on_worker_readable(worker)
    failed = store.get(job)
    assert failed.state is JobState.FAILED and failed.error.code is ErrorCode.INTERNAL and worker.job_id is None


def test_long_failure_messages_are_clipped_not_refused(tmp_path):
    store, scheduler, (worker,), _ = make(tmp_path)
    job = new_job(store)
    scheduler.enqueue(job)
    worker.inbox = [{"t": "finished", "job_id": job, "state": "failed", "error": {"code": "job_failed", "message": "x" * 9000}, "manifest": None}]
    scheduler.on_worker_readable(worker)
    assert store.get(job).state is JobState.FAILED and len(store.get(job).error.message) == 4000


@pytest.mark.parametrize("method, resumable", [("testbed", False), ("dtc123", True)])
def test_a_silent_worker_is_killed_and_its_job_fails_or_resumes(tmp_path, monkeypatch, method, resumable):
    store, scheduler, (worker,), _ = make(tmp_path)
    scheduler.unresponsive_s = 30
    job = store.create(method=method, preset="tiny", spec={}, config={}, digest="d", prompt="", seed=0, client_key=None, image=None).job_id
    scheduler.enqueue(job)
    worker.last_heard = 100.0
    scheduler.tick(now=129.0)
    assert not worker.killed, "heard from 29 s ago"
    scheduler.tick(now=131.0)
    assert worker.killed and worker.unresponsive
    scheduler.tick(now=140.0)  # killed once, not again while its death is on its way
    scheduler.on_worker_exit(worker)
    info = store.get(job)
    if resumable:
        logs = [e.data["message"] for e in store.events_since(job, 0, 100) if e.kind == "log"]
        assert info.state is JobState.QUEUED and job in scheduler.queue and "said nothing for 30 s" in logs[-1]
    else:
        assert info.state is JobState.FAILED and info.error.code is ErrorCode.WORKER_UNRESPONSIVE and "30 s" in info.error.message
