"""A full disk: telling it, saying it, and the reserve that finishes jobs."""

import errno

import pytest

from backend.server.disk import Reserve, describe_bytes, disk_full_error, is_disk_full, with_reserve
from backend.server.worker_main import JobWorker
from protocol.errors import ErrorCode


def test_only_space_and_quota_errors_count_as_a_full_disk():
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied")) and not is_disk_full(ValueError("x"))


def test_the_error_names_the_data_dir_and_its_free_space(tmp_path):
    error = disk_full_error(tmp_path, "a new job")
    assert error.code is ErrorCode.DISK_FULL and str(tmp_path) in error.message and "a new job" in error.message
    assert any(unit in error.message for unit in ("GiB free", "MiB free", "KiB free", "bytes free"))
    assert describe_bytes(3 << 20) == "3.0 MiB" and describe_bytes(512) == "512 bytes" and describe_bytes(None) == "an unknown amount"


def test_a_write_is_tried_again_once_after_the_reserve_is_given_up(tmp_path):
    reserve = Reserve(tmp_path, size=1 << 16)
    assert reserve.ensure() and reserve.held and reserve.path.stat().st_size == 1 << 16
    attempts = []

    def write():
        attempts.append(reserve.held)
        if len(attempts) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return "written"

    assert with_reserve(reserve, write) == "written" and attempts == [True, False]
    with pytest.raises(OSError):  # no reserve left to give: the error stands
        with_reserve(reserve, lambda: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(PermissionError):  # not a full disk: never spends the reserve
        reserve.ensure()
        with_reserve(reserve, lambda: (_ for _ in ()).throw(PermissionError(errno.EACCES, "denied")))
    assert reserve.held


def test_a_job_failing_on_a_full_disk_fails_disk_full_and_one_that_cannot_save_its_traceback_still_fails(tmp_path, monkeypatch):
    job_dir = tmp_path / "jobs" / "job"
    job_dir.mkdir(parents=True)
    full = JobWorker._failure("job", job_dir, OSError(errno.ENOSPC, "No space left on device", str(job_dir / "result" / "mesh.glb")))
    assert full["code"] == "disk_full" and str(tmp_path) in full["message"] and "mesh.glb" in full["message"]
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        saved = JobWorker._failure("job", job_dir, exc)
        assert saved["code"] == "internal" and (job_dir / "traceback.txt").exists()
        monkeypatch.setattr("backend.server.worker_main.write_text", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
        unsaved = JobWorker._failure("job", job_dir, exc)
    assert unsaved["code"] == "internal" and "worker's log" in unsaved["message"]
