"""Where the job store keeps things on disk: the one place that spells out its folders.

The store (:mod:`backend.server.store`) creates them; the worker hands methods the ones they
write (:class:`backend.methods.base.JobContext`); commands that read a backend's data
directory without a server (``distill3d sample --generator JOB_ID``) find job generators here.
"""

from __future__ import annotations

import re
from pathlib import Path

from protocol.connection import default_data_dir
from protocol.messages import ID_PATTERN

JOBS_DIR = "jobs"
"""In the data directory: one folder per job."""
WORK_DIR = "work"
"""In a job's folder: the method's scratch space (checkpoints to resume from)."""
GENERATOR_DIR = Path(WORK_DIR) / "generator"
"""In a job's folder: where a method that distils a 3D generator saves it (the job id names it afterwards)."""
GENERATOR_FILE = "generator.json"
"""In a generator folder: its description (``{"kind": ..., ...}``), which marks the folder as a saved generator."""


def jobs_folder(data_dir: Path | str | None) -> Path:
    """The folder of every job in the store at ``data_dir`` (None: the per-user data directory ``serve`` uses)."""
    return (Path(data_dir).expanduser() if data_dir else default_data_dir()) / JOBS_DIR


def generator_folder(jobs_dir: Path, job_id: str) -> Path | None:
    """The folder job ``job_id`` saves its generator in; None when ``job_id`` is not the id of a job in ``jobs_dir``."""
    if not re.fullmatch(ID_PATTERN, job_id) or not (jobs_dir / job_id).is_dir():
        return None
    return jobs_dir / job_id / GENERATOR_DIR
