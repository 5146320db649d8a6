import errno
import json
import os

import pytest

from backend.server.store import MAX_RESUMES, JobStore
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import ErrorInfo, JobState, ResultItem, ResultManifest


def create(store, key=None, digest="d"):
    return store.create(method="testbed", preset="default", spec={"method": "testbed", "seed": 1}, config={"steps": 1},
                        digest=digest, prompt="p", seed=1, client_key=key, image=(b"img", "png"))


def test_create_writes_the_job_folder(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    folder = tmp_path / "jobs" / job.job_id
    assert {p.name for p in folder.iterdir()} == {"spec.json", "config.json", "state.json", "events.jsonl", "input.png", "work"}
    assert json.loads((folder / "spec.json").read_text())["image_file"] == "input.png"
    assert job.state is JobState.QUEUED and job.last_seq == 1


def test_events_have_gap_free_sequence_numbers(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    for step in range(5):
        store.record_progress(job.job_id, {"stage": "s", "step": step, "total": 5})
    events = store.events_since(job.job_id, 0, 100)
    assert [e.seq for e in events] == list(range(1, 8))
    assert [e.seq for e in store.events_since(job.job_id, 5, 100)] == [6, 7]
    assert [e.seq for e in store.events_since(job.job_id, 2, 2)] == [3, 4]
    assert store.get(job.job_id).progress.step == 4


def test_reload_fails_running_jobs_requeues_queued_and_keeps_finished(tmp_path):
    store = JobStore(tmp_path)
    running, queued, done = create(store), create(store), create(store)
    store.transition(running.job_id, JobState.RUNNING)
    store.record_progress(running.job_id, {"stage": "s", "step": 3, "total": 9})
    store.transition(done.job_id, JobState.RUNNING)
    store.record_result(done.job_id, ResultManifest(items=(ResultItem(name="a", kind="file", nbytes=0, nchunks=0),), chunk_bytes=4))
    store.transition(done.job_id, JobState.SUCCEEDED)

    reloaded = JobStore(tmp_path)
    assert reloaded.load() == [queued.job_id]
    failed = reloaded.get(running.job_id)
    assert failed.state is JobState.FAILED and failed.error.code is ErrorCode.INTERRUPTED
    assert failed.progress.step == 3
    assert reloaded.get(done.job_id).result.items[0].name == "a"
    assert [e.seq for e in reloaded.events_since(running.job_id, 0, 100)] == list(range(1, failed.last_seq + 1))


def test_half_written_event_line_is_cut_on_reload(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    with open(tmp_path / "jobs" / job.job_id / "events.jsonl", "a") as f:
        f.write('{"seq": 2, "ti')
    reloaded = JobStore(tmp_path)
    reloaded.load()
    assert reloaded.get(job.job_id).last_seq == 1
    event = reloaded.append_event(job.job_id, "log", {"message": "after"})
    assert event.seq == 2 and [e.seq for e in reloaded.events_since(job.job_id, 0, 10)] == [1, 2]


def test_unreadable_job_folders_are_skipped(tmp_path, caplog):
    store = JobStore(tmp_path)
    good = create(store)
    (tmp_path / "jobs" / "garbage").mkdir()
    reloaded = JobStore(tmp_path)
    reloaded.load()
    assert reloaded.get(good.job_id) and "garbage" in caplog.text


def test_unknown_jobs_and_missing_results(tmp_path):
    store = JobStore(tmp_path)
    with pytest.raises(ProtocolError) as info:
        store.get("nope")
    assert info.value.code is ErrorCode.UNKNOWN_JOB
    job = create(store)
    with pytest.raises(ProtocolError) as info:
        store.result_reader(job.job_id)
    assert info.value.code is ErrorCode.NOT_READY


def test_client_keys_and_listing(tmp_path):
    store = JobStore(tmp_path)
    a = create(store, key="k1", digest="x")
    b = create(store)
    store.transition(b.job_id, JobState.FAILED, ErrorInfo(code=ErrorCode.JOB_FAILED, message="no"))
    assert store.find_by_client_key("k1") == (store.get(a.job_id), "x")
    jobs, total = store.list(10)
    assert [j.job_id for j in jobs] == [b.job_id, a.job_id] and total == 2
    jobs, total = store.list(10, [JobState.FAILED])
    assert [j.job_id for j in jobs] == [b.job_id] and total == 1
    reloaded = JobStore(tmp_path)
    reloaded.load()
    assert reloaded.find_by_client_key("k1")[0].job_id == a.job_id


def test_preview_keeps_only_the_latest(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    store.record_preview(job.job_id, {"media_type": "image/png", "width": 1, "height": 1}, b"png1")
    store.record_preview(job.job_id, {"media_type": "image/jpeg", "width": 2, "height": 2}, b"jpg2")
    info, data = store.preview(job.job_id)
    assert (info.seq, info.media_type, data) == (3, "image/jpeg", b"jpg2")
    folder = tmp_path / "jobs" / job.job_id
    assert (folder / "preview.jpg").exists() and not (folder / "preview.png").exists()
    store.forget_preview_bytes(job.job_id)
    assert store.preview(job.job_id)[1] == b"jpg2"


def test_crash_between_event_and_snapshot_trusts_the_event_log(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    snapshot = (tmp_path / "jobs" / job.job_id / "state.json").read_text()
    store.record_result(job.job_id, ResultManifest(items=(), chunk_bytes=4))
    snapshot_with_result = (tmp_path / "jobs" / job.job_id / "state.json").read_text()
    store.transition(job.job_id, JobState.SUCCEEDED)
    (tmp_path / "jobs" / job.job_id / "state.json").write_text(snapshot_with_result)  # the rewrite never happened
    reloaded = JobStore(tmp_path)
    reloaded.load()
    assert reloaded.get(job.job_id).state is JobState.SUCCEEDED and reloaded.get(job.job_id).result is not None
    assert snapshot != snapshot_with_result


def test_pending_cancel_at_restart_ends_cancelled(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    store.update(job.job_id, cancel_requested=True)
    reloaded = JobStore(tmp_path)
    reloaded.load()
    assert reloaded.get(job.job_id).state is JobState.CANCELLED


def test_sequence_numbers_come_from_the_log_not_the_snapshot(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    log_path = tmp_path / "jobs" / job.job_id / "events.jsonl"
    lines = log_path.read_text().splitlines(keepends=True)
    log_path.write_text(lines[0])  # the last event never reached the disk; the snapshot says last_seq 2
    reloaded = JobStore(tmp_path)
    reloaded.load()
    event = reloaded.append_event(job.job_id, "log", {"message": "next"})
    assert [e.seq for e in reloaded.events_since(job.job_id, 0, 10)][-1] == event.seq
    assert [e.seq for e in reloaded.events_since(job.job_id, 0, 10)] == list(range(1, event.seq + 1))


def test_long_logs_load_from_their_tail(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    for step in range(3000):
        store.record_progress(job.job_id, {"stage": "s", "step": step, "total": 3000, "message": "x" * 40})
    reloaded = JobStore(tmp_path)
    reloaded.load()
    info = reloaded.get(job.job_id)
    assert info.last_seq == 3002 + 1 and info.progress.step == 2999 and info.state is JobState.FAILED
    assert len(reloaded.events_since(job.job_id, 0, 10_000)) == info.last_seq


def test_reload_deletes_finished_disposable_jobs_and_keeps_the_rest(tmp_path):
    store = JobStore(tmp_path)

    def interpolation(quality):
        return store.create(method="interpolate", preset="default", spec={"method": "interpolate"}, config={"quality": quality},
                            digest=quality, prompt="", seed=1, client_key=None, image=None)

    scrubbed, kept, waiting = interpolation("preview"), interpolation("full"), interpolation("preview")
    for job in (scrubbed, kept):
        store.transition(job.job_id, JobState.RUNNING)
        store.transition(job.job_id, JobState.SUCCEEDED)

    reloaded = JobStore(tmp_path)
    assert reloaded.load(disposable=lambda method, config: method == "interpolate" and config["quality"] == "preview") == [waiting.job_id]
    assert not (tmp_path / "jobs" / scrubbed.job_id).exists(), "a finished scrub preview is gone"
    assert {j.job_id for j in reloaded.list(10)[0]} == {kept.job_id, waiting.job_id}, "a kept mesh and an unfinished preview stay"


def test_a_resumable_job_left_running_is_queued_again_a_few_times_then_failed(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    states = []
    for _ in range(MAX_RESUMES + 1):
        store.transition(job.job_id, JobState.RUNNING)  # a server took it, then crashed
        reloaded = JobStore(tmp_path)
        queued = reloaded.load(resumable=lambda method: method == "testbed")
        states.append((reloaded.get(job.job_id).state, job.job_id in queued))
        store = reloaded
    assert states == [(JobState.QUEUED, True)] * MAX_RESUMES + [(JobState.FAILED, False)], "a job that keeps crashing the server stops"
    assert store.get(job.job_id).error.code is ErrorCode.INTERRUPTED
    other = create(store)
    store.transition(other.job_id, JobState.RUNNING)
    again = JobStore(tmp_path)
    again.load(resumable=lambda method: False)
    assert again.get(other.job_id).state is JobState.FAILED, "methods without checkpoints still fail interrupted"


# ------------------------------------------------------------------ a full disk


def _full_disk_after(budget: int):
    """An ``os.write`` that writes ``budget`` more bytes in all, then fails ENOSPC (part of a write when it runs out)."""
    real_write, left = os.write, [budget]

    def write(fd, data):
        if left[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        count = real_write(fd, bytes(data[: left[0]]))
        left[0] -= count
        return count

    return write


def test_an_event_that_does_not_fit_is_cut_back_and_the_log_stays_readable(tmp_path, monkeypatch):
    store = JobStore(tmp_path)
    job = create(store)
    path = tmp_path / "jobs" / job.job_id / "events.jsonl"
    before = path.read_bytes()
    with monkeypatch.context() as patch:
        patch.setattr(os, "write", _full_disk_after(10))  # the disk fills ten bytes into the line
        with pytest.raises(ProtocolError) as caught:
            store.record_progress(job.job_id, {"stage": "s", "step": 1, "total": 2})
    assert caught.value.code is ErrorCode.DISK_FULL and str(tmp_path) in caught.value.message and "free" in caught.value.message
    assert path.read_bytes() == before, "no torn line is left for the next event to be glued to"
    assert store.get(job.job_id).last_seq == 1
    store.record_progress(job.job_id, {"stage": "s", "step": 2, "total": 2})  # space again
    reloaded = JobStore(tmp_path)
    reloaded.load()
    assert [e.seq for e in reloaded.events_since(job.job_id, 0, 10)] == [1, 2]


def test_a_state_change_spends_the_reserve_when_the_disk_is_full(tmp_path, monkeypatch):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    assert store.reserve.held
    real_write = os.write

    def full_until_the_reserve_goes(fd, data):
        if store.reserve.path.exists():
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", full_until_the_reserve_goes)
        with pytest.raises(ProtocolError, match="disk is full"):
            store.record_progress(job.job_id, {"stage": "s", "step": 1, "total": 2})  # chatter does not spend it
        assert store.reserve.held
        store.transition(job.job_id, JobState.FAILED, ErrorInfo(code=ErrorCode.DISK_FULL, message="full"))
    assert not store.reserve.held, "spent on the record that ends the job"
    reloaded = JobStore(tmp_path)
    reloaded.load()
    assert reloaded.get(job.job_id).state is JobState.FAILED and reloaded.reserve.held, "made again once there is space"


def test_with_no_space_even_for_the_reserve_a_state_change_still_happens_in_memory(tmp_path, monkeypatch):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    with monkeypatch.context() as patch:
        patch.setattr(os, "write", _full_disk_after(0))
        patch.setattr("backend.server.store.write_json", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
        info = store.transition(job.job_id, JobState.CANCELLED)
    assert info.state is JobState.CANCELLED and store.get(job.job_id).state is JobState.CANCELLED


def test_a_submit_on_a_full_disk_leaves_no_half_made_job(tmp_path, monkeypatch):
    store = JobStore(tmp_path)
    with monkeypatch.context() as patch:
        patch.setattr("backend.server.store.write_json", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
        with pytest.raises(ProtocolError) as caught:
            create(store, key="k")
    assert caught.value.code is ErrorCode.DISK_FULL and "a new job" in caught.value.message
    assert list((tmp_path / "jobs").iterdir()) == [] and store.list(10)[1] == 0 and store.find_by_client_key("k") is None


def test_a_folder_whose_creation_never_finished_and_an_unfinished_result_are_removed_at_start(tmp_path):
    store = JobStore(tmp_path)
    job = create(store)
    half = tmp_path / "jobs" / "20261206T000000-deadbeef"
    (half / "work").mkdir(parents=True)
    (half / "input.png").write_bytes(b"img")
    (tmp_path / "jobs" / job.job_id / "result.partial").mkdir()
    assert JobStore(tmp_path).load() == [job.job_id]
    assert not half.exists() and not (tmp_path / "jobs" / job.job_id / "result.partial").exists(), "nor an unfinished result"


def test_an_unreadable_line_in_the_middle_of_a_log_is_skipped(tmp_path, caplog):
    store = JobStore(tmp_path)
    job = create(store)
    store.transition(job.job_id, JobState.RUNNING)
    path = tmp_path / "jobs" / job.job_id / "events.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"seq": 2, "ti' + lines[1])  # an old torn line with the next event glued to it
    store.record_progress(job.job_id, {"stage": "s", "step": 1, "total": 2})
    reloaded = JobStore(tmp_path)
    reloaded.load()
    events = reloaded.events_since(job.job_id, 0, 10)
    assert [e.seq for e in events] == [1, 3] and "unreadable event line" in caplog.text
    assert [e.seq for e in reloaded.events_since(job.job_id, 1, 10)] == [3]
    assert [e.seq for e in reloaded.events_since(job.job_id, 2, 10)] == [3], "a cursor inside the gap resumes after it"


# ------------------------------------------------------------------ retention


def test_prune_deletes_old_then_oldest_finished_jobs_and_spares_what_is_needed(tmp_path):
    store = JobStore(tmp_path)
    jobs = [create(store, key=f"k{i}") for i in range(6)]
    day = 86_400
    for job, finished in zip(jobs, (1 * day, 2 * day, 3 * day, 4 * day, None, 0.5 * day)):
        if finished is not None:
            store.transition(job.job_id, JobState.FAILED, ErrorInfo(code=ErrorCode.JOB_FAILED, message="x"), finished_at=1_000 * day + finished)
        (tmp_path / "jobs" / job.job_id / "work" / "blob").write_bytes(b"\0" * 10_000)
    generator = tmp_path / "jobs" / jobs[5].job_id / "work" / "generator"
    generator.mkdir()
    (generator / "generator.json").write_text("{}")  # a saved generator: never pruned
    followed = {jobs[2].job_id}
    now = 1_000 * day + 5 * day

    by_age = store.prune(None, keep_days=3.5, protected=followed, now=now)  # jobs 0, 1, 2, 3 finished 4, 3, 2, 1 days ago
    assert by_age.job_ids == (jobs[0].job_id,), "only job 0 is older than 3.5 days"
    assert by_age.freed_bytes > 10_000 and not (tmp_path / "jobs" / jobs[0].job_id).exists()
    assert store.find_by_client_key("k0") is None and store.list(10)[1] == 5

    size = by_age.kept_bytes
    by_size = store.prune(max_bytes=size - 1, keep_days=None, protected=followed, now=now)
    assert by_size.job_ids == (jobs[1].job_id,), "the oldest deletable one is enough"
    everything = store.prune(max_bytes=0, keep_days=None, protected=followed, now=now)
    assert set(everything.job_ids) == {jobs[3].job_id}, "never followed, unfinished or generator-holding jobs"
    assert {j.job_id for j in store.list(10)[0]} == {jobs[2].job_id, jobs[4].job_id, jobs[5].job_id}
    reloaded = JobStore(tmp_path)
    assert set(reloaded.load()) == {jobs[4].job_id} and reloaded.list(10)[1] == 3
