"""The broker in-process: a real ROUTER over inproc, a real store, a stand-in worker."""

import time

import pytest
import zmq

from backend.server.broker import Broker
from backend.server.scheduler import Scheduler
from backend.server.store import JobStore
from protocol.codec import pack
from protocol.errors import ErrorCode
from protocol.framing import Framer
from protocol.limits import Limits
from protocol.messages import (
    Attach, Error, Events, GetStats, JobList, JobSpec, JobState, ListJobs, Ping, Pong, Submit, Submitted,
)
from tests.backend.server.test_scheduler import FakeWorker
from tests.support.wire import sign_raw

KEY = b"k" * 32


class Harness:
    def __init__(self, tmp_path, limits=Limits(), **broker_kwargs):
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.bind("inproc://broker")
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.connect("inproc://broker")
        self.store = JobStore(tmp_path)
        self.worker = FakeWorker()
        self.scheduler = Scheduler(self.store, [self.worker], lambda job_id: self.broker.job_changed(job_id))
        self.broker = Broker(self.router, Framer(KEY, limits), self.store, self.scheduler, **broker_kwargs)
        self.framer = Framer(KEY, limits)

    def close(self):
        self.ctx.destroy(linger=0)

    def turn(self):
        """What the server loop does once: handle everything received, then pump."""
        while self.router.poll(0):
            self.broker.handle(self.router.recv_multipart(copy=False))
        self.broker.pump()

    def send(self, message):
        msg_id, frames = self.framer.encode(message)
        self.dealer.send_multipart(frames)
        return msg_id

    def received(self):
        self.turn()
        out = []
        while self.dealer.poll(50):
            out.append(self.framer.decode(self.dealer.recv_multipart()))
        return out

    def request(self, message):
        msg_id = self.send(message)
        replies = [e for e in self.received() if e.header.re == msg_id]
        assert len(replies) == 1
        return replies[0].message


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


def test_ping_and_stats(harness):
    assert isinstance(harness.request(Ping()), Pong)
    assert harness.request(GetStats()).queued_jobs == 0


def test_a_handler_bug_is_an_internal_error_not_a_crash(harness, monkeypatch):
    def broken(peer, message):
        raise ZeroDivisionError("oops")

    harness.broker._handlers[Ping] = broken
    reply = harness.request(Ping())
    assert isinstance(reply, Error) and reply.code is ErrorCode.INTERNAL


def test_client_strings_quoted_in_errors_cannot_break_the_reply(harness):
    body = pack({"job": {"method": "testbed", "arrays": {"m": {"__array__": "x" * 100_000, "dtype": "<f4" * 2000, "shape": [1]}}}})
    harness.dealer.send_multipart(sign_raw(harness.framer, {"type": "submit", "id": "r1"}, body, b"\0" * 4))
    (reply,) = harness.received()
    assert reply.header.re == "r1" and reply.message.code is ErrorCode.INVALID_PARAMS
    assert len(reply.message.message) <= 4000


def test_job_list_is_trimmed_to_fit_one_reply(tmp_path):
    h = Harness(tmp_path, limits=Limits(max_body_bytes=16 << 10))
    try:
        for _ in range(60):
            h.store.create(method="testbed", preset="default", spec={}, config={}, digest="d", prompt="p" * 200, seed=0, client_key=None, image=None)
        reply = h.request(ListJobs(limit=60))
        assert isinstance(reply, JobList) and reply.total == 60 and 0 < len(reply.jobs) < 60
    finally:
        h.close()


def test_event_batches_are_cut_to_fit(tmp_path):
    h = Harness(tmp_path, limits=Limits(max_body_bytes=24 << 10))
    try:
        submitted = h.request(Submit(job=JobSpec(method="testbed"), follow=False))
        job_id = submitted.job.job_id
        for i in range(40):
            h.store.append_event(job_id, "log", {"level": "info", "message": "m" * 1500})
        h.send(Attach(job_id=job_id))
        seqs = []
        for _ in range(20):
            for envelope in h.received():
                if isinstance(envelope.message, Events):
                    seqs += [e.seq for e in envelope.message.events]
        assert seqs == list(range(1, h.store.get(job_id).last_seq + 1))
    finally:
        h.close()


def test_finished_jobs_release_their_subscribers(harness):
    job = harness.request(Submit(job=JobSpec(method="testbed"), follow=True)).job
    harness.received()
    assert len(harness.broker.subscriptions) == 1
    harness.worker.inbox = [{"t": "finished", "job_id": job.job_id, "state": "failed", "error": {"code": "job_failed", "message": "no"}, "manifest": None}]
    harness.scheduler.on_worker_readable(harness.worker)
    pushes = [e.message for e in harness.received()]
    assert any(isinstance(m, Events) and m.job.state is JobState.FAILED for m in pushes)
    assert len(harness.broker.subscriptions) == 0 and harness.broker.subscriptions.peers == 0


def test_queue_limit(tmp_path):
    h = Harness(tmp_path, max_queued_jobs=2)
    try:
        replies = [h.request(Submit(job=JobSpec(method="testbed"), follow=False)) for _ in range(4)]
        assert [type(r) for r in replies] == [Submitted, Submitted, Submitted, Error]  # one runs, two wait
        assert replies[-1].code is ErrorCode.QUEUE_FULL
    finally:
        h.close()


def test_following_too_many_jobs_is_refused_before_a_job_is_made(harness, monkeypatch):
    monkeypatch.setattr("backend.server.subscriptions.MAX_JOBS_PER_PEER", 1)
    assert isinstance(harness.request(Submit(job=JobSpec(method="testbed"), follow=True)), Submitted)
    refused = harness.request(Submit(job=JobSpec(method="testbed"), follow=True))
    assert refused.code is ErrorCode.TOO_LARGE
    assert harness.store.list(10)[1] == 1


def test_stale_clock_is_answered(harness):
    frames = sign_raw(harness.framer, {"type": "ping", "id": "old", "ts": time.time() - 3600}, pack({}))
    harness.dealer.send_multipart(frames)
    (reply,) = harness.received()
    assert reply.header.re == "old" and reply.message.code is ErrorCode.CLOCK_SKEW


def test_one_job_whose_events_cannot_be_read_does_not_stop_the_others_streams(harness, monkeypatch):
    broken = harness.request(Submit(job=JobSpec(method="testbed", seed=1), follow=True)).job
    healthy = harness.request(Submit(job=JobSpec(method="testbed", seed=2), follow=True)).job
    harness.received()
    real = harness.store.events_since

    def events_since(job_id, seq, limit):
        if job_id == broken.job_id:
            raise ValueError("events.jsonl: unreadable")
        return real(job_id, seq, limit)

    monkeypatch.setattr(harness.store, "events_since", events_since)
    for job in (broken, healthy):
        harness.store.append_event(job.job_id, "log", {"level": "info", "message": "more"})
        harness.broker.job_changed(job.job_id)
    for _ in range(3):
        pushes = [e.message for e in harness.received() if isinstance(e.message, Events)]
        assert all(m.job_id == healthy.job_id for m in pushes)
        if pushes:
            break
    assert pushes and pushes[-1].events[-1].data["message"] == "more"
    assert harness.broker.dropped["pump_failed"] == 1 and isinstance(harness.request(Ping()), Pong)


def test_a_full_disk_under_a_handler_is_a_disk_full_error(harness, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(harness.store, "create", full)
    reply = harness.request(Submit(job=JobSpec(method="testbed")))
    assert isinstance(reply, Error) and reply.code is ErrorCode.DISK_FULL and str(harness.store.root) in reply.message


def test_models_are_listed_and_a_broken_models_config_is_an_error_not_a_crash(harness, tmp_path, monkeypatch):
    from backend.teachers import registry
    from protocol.messages import ListModels, ModelList

    monkeypatch.setenv(registry.CONFIG_ENV, str(tmp_path / "models.toml"))
    listed = harness.request(ListModels())
    assert isinstance(listed, ModelList) and {m.role for m in listed.models} == set(registry.ROLES) and listed.pull is None
    (tmp_path / "models.toml").write_text("[models\n")
    broken = harness.request(ListModels())
    assert isinstance(broken, Error) and broken.code is ErrorCode.MISSING_MODEL and "cannot list the models" in broken.message
    assert isinstance(harness.request(Ping()), Pong)
