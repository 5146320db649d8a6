"""A job that runs out of memory through a real backend: it fails ``out_of_memory`` with advice, the worker releases its
cached models and runs the next job itself (no restart)."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode
from protocol.messages import GetStats
from tests.conftest import connect
from tests.support import servers
from tests.support.jobs import submit, wait_state

pytestmark = pytest.mark.slow


@pytest.fixture
def oom_server(tmp_path, monkeypatch):
    """A backend with the test-only ``oom`` method installed."""
    monkeypatch.setattr(servers, "PLUGINS", servers.PLUGINS + ",tests.support.oom_method")
    process = servers.ServerProcess(tmp_path / "data", "--workers", "1")
    process.start()
    yield process
    process.stop()


def test_a_job_out_of_memory_fails_with_advice_and_the_same_worker_runs_the_next(oom_server):
    with connect(oom_server) as client:
        before = wait_state(client, submit(client, method="oom").job_id, "succeeded", timeout=60).result.metadata
        failed = wait_state(client, submit(client, method="oom", preset="greedy").job_id, "failed", timeout=60)
        after = wait_state(client, submit(client, method="oom").job_id, "succeeded", timeout=60).result.metadata
        stats = client.request(GetStats())

    assert failed.error.code is ErrorCode.OUT_OF_MEMORY
    message = failed.error.message
    assert "oom preset 'greedy' ran out of memory on cpu" in message and "Tried to allocate 20.00 GiB" in message
    assert "no preset of oom has a recorded cpu footprint" in message and "no offload option" in message and "fewer --workers" in message
    assert after["pid"] == before["pid"] and stats.worker_restarts == 0  # recovered in place
    assert (before["instance"], after["instance"]) == (1, 2)  # the cached method (its "model") was dropped
