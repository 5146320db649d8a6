"""Helpers for driving jobs through a real client."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from protocol.client import Client
from protocol.messages import Events, GetJob, JobInfo, JobSpec, Preview, Submit


def submit(client: Client, follow: bool = True, **spec: Any) -> JobInfo:
    spec.setdefault("method", "testbed")
    return client.request(Submit(job=JobSpec(**spec), follow=follow)).job  # type: ignore[attr-defined]


def wait_state(client: Client, job_id: str, *states: str, timeout: float = 30.0) -> JobInfo:
    deadline = time.monotonic() + timeout
    while True:
        job = client.request(GetJob(job_id=job_id)).job  # type: ignore[attr-defined]
        if job.state.value in states:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is {job.state.value}, not {states}")
        time.sleep(0.05)


@dataclass
class Stream:
    """What a client received for one job through pushes."""

    events: list = field(default_factory=list)
    previews: list = field(default_factory=list)
    job: JobInfo | None = None

    @property
    def seqs(self) -> list[int]:
        return [e.seq for e in self.events]

    @property
    def finished(self) -> bool:
        return self.job is not None and self.job.state.finished


def collect(client: Client, job_id: str, stream: Stream | None = None, *, until=None, timeout: float = 30.0) -> Stream:
    """Drain pushes for ``job_id`` until ``until(stream)`` (default: the job finished)."""
    stream = stream or Stream()
    until = until or (lambda s: s.finished)
    deadline = time.monotonic() + timeout
    while not until(stream):
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream for {job_id}: {len(stream.events)} events, job {stream.job and stream.job.state}")
        try:
            item = client.inbox.get(timeout=0.1)
        except Exception:
            continue
        message = item.message
        if isinstance(message, Events) and message.job_id == job_id:
            stream.events.extend(message.events)
            if message.job is not None:
                stream.job = message.job
        elif isinstance(message, Preview) and message.job_id == job_id:
            stream.previews.append(message)
    return stream
