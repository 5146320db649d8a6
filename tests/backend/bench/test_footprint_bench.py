"""``distill3d bench footprint``: the probe's job measured in a fresh process, its row printed and recorded."""

from __future__ import annotations

import io

import pytest

from backend.bench.footprint_bench import FootprintJobFailed, footprint_from, run_footprint_bench
from backend.methods.footprints import read_footprints

MIB = 2**20
RESULT = {"peak_bytes": 5 * MIB, "baseline_bytes": 500 * MIB, "allocated_bytes": 0, "seconds": 2.0, "fraction": 0.25, "steps": 5,
          "total_steps": 20, "device_name": "2 CPU cores", "torch_version": "2.x", "threads": 1, "peak_reset": True}  # fmt: skip


def test_a_stopped_job_projects_its_seconds_over_the_whole_plan_and_says_so():
    footprint = footprint_from(RESULT, "tiny", "cpu", "distill3d bench footprint --method m", "2026-12-06", "inputs: x")
    assert footprint.seconds == 8.0 and footprint.projected
    assert footprint.note.startswith("inputs: x; torch threads: 1; stopped after 5 of 20 steps (25.0% of the plan)")
    whole = footprint_from({**RESULT, "fraction": 1.0}, "tiny", "cpu", "c", "2026-12-06")
    assert whole.seconds == 2.0 and not whole.projected and "stopped" not in whole.note


def test_a_job_stopped_before_any_progress_cannot_be_projected():
    with pytest.raises(FootprintJobFailed, match="cannot be projected"):
        footprint_from({**RESULT, "fraction": 0.0}, "tiny", "cpu", "c", "2026-12-06")


@pytest.mark.slow
def test_the_peak_of_a_job_holding_64_mib_is_measured_and_recorded(tmp_path):
    file = tmp_path / "footprints.json"
    out = io.StringIO()
    footprint = run_footprint_bench("probe", "default", {"payload_mib": 64.0, "steps": 4, "step_seconds": 0.0}, "cpu", None,
                                    "distill3d bench footprint --method probe", record_to=file, out=out)  # fmt: skip
    assert 64 * MIB <= footprint.peak_bytes < 512 * MIB and footprint.baseline_bytes > 50 * MIB  # the interpreter and torch
    assert not footprint.projected and footprint.device == "cpu" and footprint.torch_version
    assert read_footprints(file).of("probe") == (footprint,)
    assert "probe  default" in out.getvalue() and f"recorded in {file}" in out.getvalue()


@pytest.mark.slow
def test_a_failing_job_records_nothing(tmp_path):
    file = tmp_path / "footprints.json"
    with pytest.raises(FootprintJobFailed, match="steps"):
        run_footprint_bench("probe", "default", {"steps": 0}, "cpu", None, "c", record_to=file, out=io.StringIO())
    assert not file.exists()


@pytest.mark.slow
def test_max_steps_stops_the_job_early_and_projects_its_seconds():
    footprint = run_footprint_bench("probe", "default", {"steps": 40, "step_seconds": 0.02}, "cpu", 10, "c", out=io.StringIO())
    assert footprint.projected and "stopped after 10 of 40 steps (25.0% of the plan)" in footprint.note
    assert 0.8 <= footprint.seconds < 5.0  # 40 steps of 20 ms, projected from the first 10
