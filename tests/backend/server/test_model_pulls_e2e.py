"""A client has a real backend pull the models a job was refused for, from a loopback hub (:mod:`tests.support.hub`):
the refusal names them with size and licence, the pull reports progress and can be cancelled, and afterwards the same
job is accepted."""

import time

import pytest

from backend.teachers import registry
from protocol.errors import ErrorCode, RemoteError
from protocol.messages import Cancel, CancelPull, ListModels, PullModels
from tests.conftest import connect
from tests.support.hub import PRD_STUDENT_BYTES as TURBO_BYTES, HubServer, serve_prd_paper_models, use
from tests.support.jobs import submit, wait_state
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.slow

PRD_PAPER = {"method": "prd", "preset": "paper", "prompt": "a red cube"}
"""A job whose models are the two the hub below serves (SD 2.1 base and PRD's published student)."""


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The hub serving the models of :data:`PRD_PAPER`, with the test's environment pointing every process at it."""
    with HubServer() as server:
        serve_prd_paper_models(server, tmp_path)
        use(server, monkeypatch, tmp_path)  # the backend started below inherits this environment
        yield server


@pytest.fixture
def backend(hub, tmp_path):
    process = ServerProcess(tmp_path / "data")
    process.start()
    with connect(process) as client:
        yield client
    process.stop()


def models_of(client) -> dict:
    return {m.role: m for m in client.request(ListModels()).models}


def pull_until(client, done, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not done(pull := client.request(ListModels()).pull):
        assert time.monotonic() < deadline, pull
        time.sleep(0.05)
    return pull


def test_a_job_refused_for_missing_models_is_accepted_after_the_backend_pulls_them(hub, backend):
    with pytest.raises(RemoteError) as refused:
        submit(backend, **PRD_PAPER)
    assert refused.value.code is ErrorCode.MISSING_MODEL
    missing = {m["role"]: m for m in refused.value.details["missing"]}
    assert set(missing) == {"stable_diffusion", "prd_student"} and missing["stable_diffusion"]["licence"] == "openrail++"
    assert missing["prd_student"]["download_bytes"] == registry.ROLES["prd_student"].download_size
    assert "about 2.6 GB to download, licence openrail++" in refused.value.message
    listed = models_of(backend)
    assert listed["stable_diffusion"].state == "missing" and listed["clip"].licence == "mit" and listed["deepfloyd_if_stage1"].gated
    method = next(m for m in backend.status.welcome.methods if m.name == "prd")
    assert method.models["paper"] == ("stable_diffusion", "prd_student") and "demo" not in method.models

    started = backend.request(PullModels(roles=tuple(missing))).pull
    assert started.state == "running" and started.roles == ("stable_diffusion", "prd_student")
    pull = pull_until(backend, lambda p: p.state != "running")
    assert pull.state == "succeeded", pull.error
    assert pull.bytes_total > TURBO_BYTES and pull.bytes_done == pull.bytes_total and pull.files_started == pull.files_total > 5
    listed = models_of(backend)
    assert listed["stable_diffusion"].state == listed["prd_student"].state == "present"
    assert listed["prd_student"].bytes_on_disk == TURBO_BYTES
    job = submit(backend, **PRD_PAPER)  # the model check passes now (the job itself is not the point: it is cancelled)
    backend.request(Cancel(job_id=job.job_id))
    wait_state(backend, job.job_id, "cancelled", "failed", timeout=60)


def test_a_slow_pull_reports_its_bytes_and_stops_when_cancelled_then_a_new_pull_continues_it(hub, backend, tmp_path):
    hub.bytes_per_s = 4 * 1024 * 1024  # the student takes ~6 s, its first chunk is counted after ~2.5 s
    backend.request(PullModels(roles=("prd_student",)))
    mid = pull_until(backend, lambda p: p.bytes_done > 0)
    assert mid.state == "running" and mid.bytes_done < TURBO_BYTES and mid.current == "prd_student: triplane_turbo_sd_v1.pth" and mid.bytes_total == TURBO_BYTES
    with pytest.raises(RemoteError) as busy:
        backend.request(PullModels(roles=("clip",)))
    assert busy.value.code is ErrorCode.BUSY
    assert backend.request(CancelPull()).pull.cancel_requested
    cancelled = pull_until(backend, lambda p: p.state != "running")
    assert cancelled.state == "cancelled" and cancelled.bytes_done < TURBO_BYTES
    [partial] = (tmp_path / "hub-cache").rglob("*.distill3d-partial")
    kept = partial.stat().st_size
    assert kept > 0 and not list((tmp_path / "hub-cache").rglob("*.incomplete")), "our partial file is kept, none of huggingface_hub's"
    assert models_of(backend)["prd_student"].state == "missing" and models_of(backend)["prd_student"].kept_bytes == kept
    hub.bytes_per_s, hub.requests[:] = None, []
    backend.request(PullModels(roles=("prd_student",)))
    done = pull_until(backend, lambda p: p.state != "running")
    assert done.state == "succeeded" and done.bytes_done == TURBO_BYTES and done.message.startswith("prd_student: present")
    assert [r.range for r in hub.downloads("triplane_turbo_sd_v1.pth")] == [f"bytes={kept}-"], "the new pull continues the file"
    assert models_of(backend)["prd_student"].state == "present"


def test_bad_pull_requests_get_clear_errors_and_the_backend_stays_up(hub, backend):
    with pytest.raises(RemoteError) as unknown:
        backend.request(PullModels(roles=("no_such_model",)))
    assert unknown.value.code is ErrorCode.INVALID_PARAMS and "unknown model roles no_such_model" in unknown.value.message
    with pytest.raises(RemoteError) as nothing:
        backend.request(CancelPull())
    assert nothing.value.code is ErrorCode.UNKNOWN_JOB
    backend.request(PullModels(roles=("zero123",)))  # the hub does not have it
    failed = pull_until(backend, lambda p: p.state != "running")
    assert failed.state == "failed" and "is not on the hub" in failed.error.message
    assert models_of(backend)["zero123"].state == "missing"
