"""Jobs through a real backend: streaming, reattach, restarts, crashes, cancel, concurrency."""

import io
import os
import signal
import threading
import time

import numpy as np
from PIL import Image
import pytest
import trimesh

from backend.bench.probe import textured_tetrahedron
from protocol.download import download
from protocol.errors import ErrorCode, RemoteError
from protocol.messages import Attach, Cancel, GetJob, GetStats, JobSpec, JobState, ListJobs, Ping, Progress, ReleaseGpu, Submit, Submitted
from tests.conftest import connect
from tests.support.jobs import collect, submit, wait_state
from tests.support.servers import ServerProcess
from tests.support.wire import RawPeer

pytestmark = pytest.mark.slow


def test_job_streams_gap_free_events_previews_and_a_result(shared_client):
    job = submit(shared_client, preset="quick", params={"steps": 6, "preview_every": 2}, prompt="a red torus", seed=7)
    assert job.state is JobState.QUEUED and job.seed == 7
    stream = collect(shared_client, job.job_id)
    assert stream.seqs == list(range(1, len(stream.seqs) + 1))
    states = [e.data["state"] for e in stream.events if e.kind == "state"]
    assert states == ["queued", "running", "succeeded"]
    steps = [e.data["step"] for e in stream.events if e.kind == "progress"]
    assert steps[0] == 1 and steps[-1] == 6 and steps == sorted(steps)  # rate-limited between first and last
    assert stream.previews and stream.previews[-1].info.seq == max(e.seq for e in stream.events if e.kind == "preview")
    assert stream.job.result is not None and stream.job.progress.fraction == 1.0
    files = download(shared_client.request_async, job.job_id, stream.job.result)
    expected = textured_tetrahedron().arrays()
    for name in ("positions", "faces", "uvs"):
        np.testing.assert_array_equal(files[name].to_numpy(), expected[name])
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(files["texture.png"]))), expected["texture"])
    mesh = trimesh.load(io.BytesIO(files["mesh.glb"]), file_type="glb", force="mesh")
    assert len(mesh.faces) == 4
    assert stream.job.result.metadata["prompt"] == "a red torus"


def test_large_result_arrives_intact(shared_client):
    job = submit(shared_client, preset="quick", params={"payload_mib": 9.5}, seed=3)
    wait_state(shared_client, job.job_id, "succeeded")
    info = wait_state(shared_client, job.job_id, "succeeded")
    assert info.result.item("payload").nchunks == 3
    files = download(shared_client.request_async, job.job_id, info.result, items=["payload"], window=2)
    expected = np.random.default_rng(3).integers(0, 256, int(9.5 * (1 << 20)), dtype=np.uint8)
    np.testing.assert_array_equal(files["payload"].to_numpy(), expected)


def test_reattach_after_client_disconnect_mid_stream(shared_server):
    first = connect(shared_server)
    job = submit(first, params={"steps": 30, "step_seconds": 0.05, "preview_every": 3})
    seen = collect(first, job.job_id, until=lambda s: sum(e.kind == "progress" for e in s.events) >= 5)
    first.close()  # Blender quits mid-job
    last = seen.seqs[-1]
    with connect(shared_server) as second:
        status = second.request(Attach(job_id=job.job_id, since_seq=last))
        assert status.job.state is JobState.RUNNING
        rest = collect(second, job.job_id)
    assert rest.seqs == list(range(last + 1, rest.seqs[-1] + 1))
    assert rest.job.state is JobState.SUCCEEDED and rest.job.result is not None
    assert rest.previews, "the latest preview is sent on reattach"
    with connect(shared_server) as third:  # long after: all events, the latest preview only, the result
        replay = collect(third, job.job_id, until=lambda s: s.finished and s.previews) if third.request(Attach(job_id=job.job_id)) else None
    assert replay.seqs == list(range(1, rest.seqs[-1] + 1)) and len(replay.previews) == 1


def test_two_clients_at_once_each_get_their_own_job(shared_server):
    results = {}

    def run(name, seed):
        with connect(shared_server) as client:
            job = submit(client, preset="quick", params={"steps": 5}, seed=seed)
            stream = collect(client, job.job_id)
            results[name] = (job.job_id, stream)

    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", 1), ("b", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    (job_a, stream_a), (job_b, stream_b) = results["a"], results["b"]
    assert job_a != job_b
    assert stream_a.job.job_id == job_a and stream_b.job.job_id == job_b
    assert stream_a.job.state is stream_b.job.state is JobState.SUCCEEDED


def test_slow_client_that_does_not_read_does_not_stall_a_fast_one(shared_server):
    slow = RawPeer(shared_server.info, rcvhwm=1)
    slow.sock.setsockopt(__import__("zmq").RCVBUF, 4096)
    spec = JobSpec(method="testbed", params={"steps": 200, "step_seconds": 0.005, "preview_every": 1, "preview_size": 512, "log_every": 1})
    slow.send(Submit(job=spec, follow=True))  # follows, never reads
    time.sleep(0.3)
    with connect(shared_server) as fast:
        jobs = fast.request(GetStats())
        running = jobs.running_jobs[0]
        started = time.monotonic()
        fast.request(Attach(job_id=running))
        stream = collect(fast, running, timeout=60)
        pings = []
        for _ in range(20):
            t = time.monotonic()
            fast.request(Ping())
            pings.append(time.monotonic() - t)
    assert stream.job.state is JobState.SUCCEEDED
    assert stream.seqs == list(range(1, stream.seqs[-1] + 1))
    assert max(pings) < 0.5
    assert time.monotonic() - started < 30
    slow.close()


def test_idempotent_submit(shared_client):
    first = shared_client.request(Submit(job=JobSpec(method="testbed", preset="quick", seed=5, client_key="blender-42"), follow=False))
    again = shared_client.request(Submit(job=JobSpec(method="testbed", preset="quick", seed=5, client_key="blender-42"), follow=False))
    assert first.created and not again.created and again.job.job_id == first.job.job_id
    with pytest.raises(RemoteError) as info:
        shared_client.request(Submit(job=JobSpec(method="testbed", preset="quick", seed=6, client_key="blender-42")))
    assert info.value.code is ErrorCode.IDEMPOTENCY_CONFLICT


@pytest.mark.parametrize(
    "params, code, words",
    [
        ({"fail_at_step": 2}, ErrorCode.JOB_FAILED, "testbed failure at step 2"),
        ({"bug_at_step": 2}, ErrorCode.INTERNAL, "traceback.txt"),
        ({"missing_model": True}, ErrorCode.MISSING_MODEL, "distill3d models"),
    ],
)
def test_method_errors_fail_the_job_not_the_worker(shared_client, params, code, words):
    job = submit(shared_client, preset="quick", params=params)
    failed = wait_state(shared_client, job.job_id, "failed")
    assert failed.error.code is code and words in failed.error.message
    after = submit(shared_client, preset="quick")
    assert wait_state(shared_client, after.job_id, "succeeded").result is not None


def test_cancel_running_job_takes_effect_within_a_step(shared_client):
    job = submit(shared_client, params={"steps": 100, "step_seconds": 0.2})
    collect(shared_client, job.job_id, until=lambda s: any(e.kind == "progress" for e in s.events))
    started = time.monotonic()
    status = shared_client.request(Cancel(job_id=job.job_id))
    assert status.job.cancel_requested
    done = wait_state(shared_client, job.job_id, "cancelled", timeout=5)
    assert time.monotonic() - started < 1.0 and done.progress.step < 100


def test_cancel_queued_job_is_immediate(shared_client):
    running = submit(shared_client, follow=False, params={"steps": 50, "step_seconds": 0.1})
    queued = submit(shared_client, follow=False, preset="quick")
    assert shared_client.request(Cancel(job_id=queued.job_id)).job.state is JobState.CANCELLED
    assert shared_client.request(Cancel(job_id=queued.job_id)).job.state is JobState.CANCELLED  # idempotent
    shared_client.request(Cancel(job_id=running.job_id))
    wait_state(shared_client, running.job_id, "cancelled")


def test_release_gpu_is_acknowledged(shared_client):
    assert "idle worker" in shared_client.request(ReleaseGpu()).detail


# ------------------------------------------------------------ fresh servers


def test_hung_job_is_killed_after_the_cancel_grace_and_the_next_job_runs(server, client):
    job = submit(client, params={"steps": 10, "step_seconds": 0.0, "hang_at_step": 2})
    collect(client, job.job_id, until=lambda s: any(e.kind == "progress" for e in s.events))
    time.sleep(0.3)
    started = time.monotonic()
    client.request(Cancel(job_id=job.job_id))
    done = wait_state(client, job.job_id, "cancelled", timeout=15)
    assert 2.0 <= time.monotonic() - started < 10 and done.error is None
    after = submit(client, preset="quick")
    assert wait_state(client, after.job_id, "succeeded", timeout=30)
    assert client.request(GetStats()).worker_restarts == 1


@pytest.mark.parametrize("how", ["sigkill", "os_exit"])
def test_worker_death_fails_the_job_and_the_next_one_runs(server, client, how):
    params = {"steps": 100, "step_seconds": 0.05}
    if how == "os_exit":
        params["crash_at_step"] = 3
    job = submit(client, params=params)
    wait_state(client, job.job_id, "running")
    if how == "sigkill":
        time.sleep(0.2)
        (worker,) = client.request(GetStats()).worker_pids
        os.kill(worker, signal.SIGKILL)
    failed = wait_state(client, job.job_id, "failed", timeout=15)
    assert failed.error.code is ErrorCode.WORKER_CRASHED
    assert ("SIGKILL" if how == "sigkill" else "exit code 3") in failed.error.message
    after = submit(client, preset="quick")
    assert wait_state(client, after.job_id, "succeeded", timeout=30).result is not None
    assert server.alive()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_restarted_server_serves_finished_results_and_fails_interrupted_jobs(server, sig):
    with connect(server) as client:
        done = submit(client, preset="quick", params={"payload_mib": 0.5})
        done = wait_state(client, done.job_id, "succeeded")
        before = download(client.request_async, done.job_id, done.result)
        running = submit(client, params={"steps": 1000, "step_seconds": 0.05})
        queued = submit(client, preset="quick")
        wait_state(client, running.job_id, "running")
        worker_pids = client.request(GetStats()).worker_pids
    server.stop(sig)
    deadline = time.monotonic() + 5
    while any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in worker_pids):
        assert time.monotonic() < deadline, "the worker outlived its broker"
        time.sleep(0.1)
    server.start()
    with connect(server) as client:
        assert wait_state(client, done.job_id, "succeeded").result == done.result
        after = download(client.request_async, done.job_id, done.result)
        assert after["payload"] == before["payload"] and after["mesh.glb"] == before["mesh.glb"]
        interrupted = wait_state(client, running.job_id, "failed")
        assert interrupted.error.code is ErrorCode.INTERRUPTED
        assert wait_state(client, queued.job_id, "succeeded", timeout=30).result is not None


def test_following_client_reattaches_by_itself_when_the_server_restarts(server):
    with connect(server, heartbeat_s=0.2, offline_after_s=1.0) as client:
        job = submit(client, params={"steps": 1000, "step_seconds": 0.05})
        stream = collect(client, job.job_id, until=lambda s: any(e.kind == "progress" for e in s.events))
        server.stop(signal.SIGKILL)
        server.start()
        stream = collect(client, job.job_id, stream, timeout=30)
        assert stream.job.state is JobState.FAILED and stream.job.error.code is ErrorCode.INTERRUPTED
        assert stream.seqs == list(range(1, stream.seqs[-1] + 1))


def test_flood_of_bad_frames_keeps_memory_flat(server, client):
    peer = RawPeer(server.info)
    good = peer.framer.encode(Ping())[1]

    def flood(n):
        for i in range(n):
            kind = i % 4
            if kind == 0:
                peer.send_frames([os.urandom(32)])
            elif kind == 1:
                peer.send_frames([good[0], os.urandom(32), *good[2:]])
            elif kind == 2:
                peer.send_frames([b"D3DP\x05\x00", b"", b"", b""])
            else:
                peer.send_frames([good[0], b"", os.urandom(3000), os.urandom(3000)])
        return peer.roundtrip(GetStats())  # same socket: served after every frame above

    flood(2000)
    before = flood(0)
    after = flood(8000)
    assert sum(after.dropped.values()) - sum(before.dropped.values()) == 8000
    assert after.rss_bytes - before.rss_bytes < 8 << 20
    peer.close()


@pytest.mark.slow
def test_a_checkpointing_job_stopped_with_the_server_continues_from_its_checkpoint_when_it_restarts(server, tmp_path):
    import torch

    from backend.teachers.synthetic.families import family
    from backend.teachers.synthetic.glb_io import export_scene

    target = tmp_path / "mushroom.glb"
    target.write_bytes(export_scene(family("mushroom").sample(torch.Generator().manual_seed(2)))[1])
    params = {"teacher": "synthetic", "target": str(target), "coarse.iterations": 60, "coarse.checkpoint_every": 10,
              "coarse.resolution": 16, "coarse.samples": 8, "fine.iterations": 0, "export_resolution": 32}  # fmt: skip
    with connect(server) as client:
        job = submit(client, method="dtc123", preset="tiny", params=params, follow=False)
        deadline = time.monotonic() + 120
        while (client.request(GetJob(job_id=job.job_id)).job.progress or Progress()).step < 25:
            assert time.monotonic() < deadline, "the job did not get going"
            time.sleep(0.1)
    server.stop(signal.SIGTERM)
    server.start()
    with connect(server) as client:
        done = wait_state(client, job.job_id, "succeeded", "failed", timeout=240)
    assert done.state is JobState.SUCCEEDED, done.error
    log = (server.data_dir / "jobs" / job.job_id / "events.jsonl").read_text()
    assert "continues from its last checkpoint" in log and "stage 1 resumes at iteration" in log


def test_a_submit_replayed_after_a_restart_is_refused(server):
    peer = RawPeer(server.info)
    _, captured = peer.send(Submit(job=JobSpec(method="testbed", preset="quick"), follow=False))
    assert isinstance(peer.recv_message().message, Submitted)
    peer.close()
    assert server.stop() == 0
    server.start()
    attacker = RawPeer(server.info)
    try:
        attacker.send_frames(captured)  # same key, inside the timestamp window
        assert attacker.recv(1.0) is None, "dropped as a replay"
        msg_id, _ = attacker.send(Ping())
        assert attacker.recv_message().header.re == msg_id, "the peer is still served"
    finally:
        attacker.close()
    with connect(server) as client:
        assert client.request(ListJobs(limit=10)).total == 1, "no second job"
        submit(client, preset="quick")  # a new message is not a replay
        assert client.request(ListJobs(limit=10)).total == 2


def test_a_stopped_worker_is_killed_for_its_silence_and_a_busy_one_is_not(tmp_path):
    server = ServerProcess(tmp_path / "data", "--worker-timeout", "3")
    server.start()
    try:
        with connect(server) as client:
            busy = submit(client, params={"steps": 100, "step_seconds": 0.05, "preview_every": 0}, seed=1)  # 5 s of work, no events
            assert wait_state(client, busy.job_id, "succeeded", timeout=60).result is not None, "its heartbeat kept it alive"
            stopped = submit(client, params={"steps": 400, "step_seconds": 0.05}, seed=2)
            wait_state(client, stopped.job_id, "running")
            (pid,) = client.request(GetStats()).worker_pids
            os.kill(pid, signal.SIGSTOP)
            ended = wait_state(client, stopped.job_id, "failed", timeout=30)
            assert ended.error.code is ErrorCode.WORKER_UNRESPONSIVE and "3 s" in ended.error.message
            after = submit(client, preset="quick", seed=3)  # a new worker takes the next job
            assert wait_state(client, after.job_id, "succeeded", timeout=60).result is not None
    finally:
        server.stop()
