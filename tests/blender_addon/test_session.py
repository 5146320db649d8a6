"""The add-on's session layer (no bpy) against a live backend: what it shows, and what it drops as stale."""

import time

import numpy as np
import pytest

from blender_addon.session import Session
from protocol.messages import Attach, JobSpec, Ping, Submit
from tests.conftest import connect


def _drain(session: Session, until, timeout: float = 60.0) -> list:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += session.poll()
        if until(seen):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"timed out; saw {[(o.kind, o.message) for o in seen]}")


@pytest.fixture
def session(shared_server):
    session = Session(shared_server.info)
    session.client.wait_connected(15)
    yield session
    session.close()


def test_a_submitted_job_streams_progress_previews_and_its_result(session):
    spec = JobSpec(method="testbed", preset="quick", params={"steps": 4, "preview_every": 1})
    session.submit(spec, "generate", name="thing")
    seen = _drain(session, lambda seen: any(o.kind == "result" for o in seen))
    kinds = [o.kind for o in seen]
    assert "job" in kinds and "preview" in kinds and kinds[-1] == "result"
    result = seen[-1]
    assert result.job.context == {"name": "thing"} and result.arrays["positions"].shape == (12, 3)
    assert list(result.meshes) == [""] and result.meshes[""].face_count == 4, "laid out for Blender on the download thread"
    assert result.meshes[""].texture_png == result.files["texture.png"] and result.meshes[""].texture_size == (32, 32)
    assert "mesh.glb" not in result.files and not session.busy(), "no GLB download when the arrays are there"


def test_the_backends_models_are_listed_once_connected_and_matched_to_a_methods_presets(session):
    _drain(session, lambda seen: any(o.kind == "models" for o in seen))
    assert session.models["stable_diffusion"].licence == "openrail++" and session.pull is None and not session.pulling()
    preset, needed = session.models_for("prd")
    assert preset == "paper" and [m.role for m in needed] == ["stable_diffusion", "prd_student"], "the default preset"
    assert session.models_for("prd", "demo") == ("demo", ()), "the demo student ships with the backend"
    assert session.models_for("no-such-method") == ("", ())


def test_replies_and_events_this_session_did_not_ask_for_are_dropped(session, shared_server):
    other = connect(shared_server)
    try:
        foreign = other.request(Submit(job=JobSpec(method="testbed", preset="quick"), follow=False)).job.job_id
    finally:
        other.close()
    session.client.send(Ping())  # a reply nobody in the session waits for
    session.client.send(Attach(job_id=foreign, follow=True))  # the client follows it, the session does not
    time.sleep(1.0)
    assert [o for o in session.poll() if o.kind not in ("status", "models")] == []


def test_a_fast_scrub_sends_few_jobs_and_ends_on_the_last_t(session):
    session.submit(JobSpec(method="variants", preset="preview", params={"count": 2}, seed=3), "variants")
    variants = _drain(session, lambda seen: any(o.kind == "result" for o in seen))[-1].arrays
    a, b = variants["v0.latent"], variants["v1.latent"]
    for t in np.linspace(0.0, 1.0, 30):
        session.interpolate("demo", a, b, float(t))
        session.poll()
        time.sleep(0.01)
    seen = _drain(session, lambda seen: any(o.kind == "result" and o.job.context["t"] == 1.0 for o in seen))
    shown = [o.job.context["t"] for o in seen if o.kind == "result"]
    jobs = [j for j in session.jobs.values() if j.purpose == "interpolate"]
    assert len(jobs) < 10, f"{len(jobs)} jobs for 30 slider moves"
    assert shown == sorted(shown) and shown[-1] == 1.0
    assert np.allclose(seen[-1].arrays["latent"], b)


def test_an_unknown_job_to_attach_fails_readably(session):
    session.attach("no-such-job", "generate")
    seen = _drain(session, lambda seen: any(o.kind == "failed" for o in seen))
    failed = next(o for o in seen if o.kind == "failed")
    assert "no-such-job" in failed.message or "unknown" in failed.message.lower()


def test_a_result_without_mesh_arrays_still_brings_its_glb():
    from blender_addon.session import needed_items
    from protocol.messages import ResultItem, ResultManifest

    def manifest(*names):
        return ResultManifest(items=tuple(ResultItem(name=n, kind="file", nbytes=0, nchunks=0) for n in names), chunk_bytes=1)

    assert needed_items(manifest("positions", "faces", "texture.png", "mesh.glb")) == ["positions", "faces", "texture.png"]
    assert needed_items(manifest("v0.positions", "v0.faces", "v0.mesh.glb", "v1.mesh.glb")) == ["v0.positions", "v0.faces"]
    assert needed_items(manifest("mesh.glb", "notes.txt")) == ["mesh.glb", "notes.txt"]
