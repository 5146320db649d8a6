"""A real backend whose data dir's disk fills up: nothing lost, nothing stuck, a clear error each time.

The disk is a small tmpfs mounted for the test (root with CAP_SYS_ADMIN); where that is refused the test is skipped and
says so. The in-process tests of the same paths (tests/backend/server/test_store.py, test_disk.py) run everywhere.
"""

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from protocol.errors import ErrorCode, RemoteError
from protocol.messages import Attach, ListJobs, Ping
from tests.conftest import connect
from tests.support.jobs import collect, submit, wait_state
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.slow

DISK_MIB = 48
"""The tmpfs: room for the server, a few jobs and the 4 MiB reserve."""


@pytest.fixture
def small_disk(tmp_path: Path):
    """A ``DISK_MIB`` tmpfs at ``tmp_path/disk``, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("a full disk needs a small tmpfs, and this machine has no `mount`")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MIB}m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"a full disk needs a small tmpfs; mounting one was refused ({made.stderr.strip() or made.returncode}: needs root with CAP_SYS_ADMIN)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a filler file into ``folder`` until its disk has no space left; its path."""
    path = folder / "filler"
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            while True:
                try:
                    f.write(b"\xff" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return path


def test_a_full_disk_loses_nothing_and_says_why(small_disk):
    server = ServerProcess(small_disk / "data")
    server.start()
    jobs = small_disk / "data" / "jobs"
    try:
        with connect(server) as client:
            done = submit(client, preset="quick", seed=1)
            wait_state(client, done.job_id, "succeeded")
            running = submit(client, params={"steps": 60, "step_seconds": 0.05, "preview_every": 2, "payload_mib": 2.0}, seed=2)
            wait_state(client, running.job_id, "running")
            filler = fill(small_disk)
            folders = set(os.listdir(jobs))

            with pytest.raises(RemoteError) as refused:
                submit(client, preset="quick", seed=3)
            assert refused.value.code is ErrorCode.DISK_FULL, refused.value
            assert str(small_disk / "data") in refused.value.message and "free" in refused.value.message
            assert set(os.listdir(jobs)) == folders, "no half-made job folder"

            ended = collect(client, running.job_id, timeout=60).job
            assert ended.state.value == "failed" and ended.error.code is ErrorCode.DISK_FULL, ended.error
            assert str(small_disk / "data") in ended.error.message
            assert not (jobs / running.job_id / "result.partial").exists(), "the failed result gave its space back"

            client.request(Ping())  # reads go on while the disk is full
            assert client.request(ListJobs(limit=10)).total == 2
            client.request(Attach(job_id=done.job_id, since_seq=0))
            replay = collect(client, done.job_id)
            assert replay.seqs == list(range(1, replay.seqs[-1] + 1)) and replay.job.state.value == "succeeded"

            filler.unlink()  # space again: jobs are accepted again
            again = submit(client, preset="quick", seed=4)
            assert wait_state(client, again.job_id, "succeeded").result is not None

        assert server.stop() == 0
        server.start()
        with connect(server) as client:
            for job, state in ((done, "succeeded"), (running, "failed"), (again, "succeeded")):
                client.request(Attach(job_id=job.job_id, since_seq=0))
                stream = collect(client, job.job_id)
                assert stream.job.state.value == state and stream.seqs == sorted(set(stream.seqs)), job.job_id
                assert [e.data["state"] for e in stream.events if e.kind == "state"][-1] == state
    finally:
        if server.alive():
            server.stop()
