"""Reading and recording the footprints file: missing, unreadable and partly bad files never raise on reading."""

from __future__ import annotations

import json

import pytest

from backend import methods
from backend.methods.footprints import FOOTPRINTS_FILE, read_footprints, record
from protocol.messages import Footprint
from protocol.schema import to_plain

ROW = Footprint(preset="tiny", device="cpu", peak_bytes=123, seconds=4.5, baseline_bytes=7, measured_on="2026-12-06")


def test_a_missing_file_means_nothing_is_measured_and_no_problem(tmp_path):
    table = read_footprints(tmp_path / "absent.json")
    assert table.rows == {} and table.problems == () and table.of("dtc123") == ()


@pytest.mark.parametrize("text, words", [("{not json", "cannot be read"), ("[1, 2]", "no 'footprints' map"),
                                         ('{"footprints": 3}', "no 'footprints' map")])  # fmt: skip
def test_an_unreadable_file_is_a_problem_not_an_exception(tmp_path, text, words):
    path = tmp_path / "footprints.json"
    path.write_text(text)
    table = read_footprints(path)
    assert table.rows == {} and len(table.problems) == 1 and words in table.problems[0]


def test_bad_rows_are_left_out_and_named_and_good_rows_kept(tmp_path):
    path = tmp_path / "footprints.json"
    path.write_text(json.dumps({"footprints": {"m": [to_plain(ROW), {"preset": "paper", "device": "cuda", "peak_bytes": -1, "seconds": 1.0}],
                                               "n": "nonsense"}}))  # fmt: skip
    table = read_footprints(path)
    assert table.of("m") == (ROW,)
    assert len(table.problems) == 2 and "m row 1" in table.problems[0] and "'n'" in table.problems[1]


def test_record_replaces_the_row_of_the_same_preset_and_device_and_keeps_the_rest(tmp_path):
    path = tmp_path / "footprints.json"
    record(path, "m", ROW)
    record(path, "m", Footprint(preset="tiny", device="cuda", peak_bytes=9, seconds=1.0))
    newer = Footprint(preset="tiny", device="cpu", peak_bytes=456, seconds=3.0)
    record(path, "m", newer)
    assert [(f.device, f.peak_bytes) for f in read_footprints(path).of("m")] == [("cpu", 456), ("cuda", 9)]


def test_record_refuses_to_overwrite_a_file_it_cannot_read(tmp_path):
    path = tmp_path / "footprints.json"
    path.write_text("{broken")
    with pytest.raises(ValueError, match="cannot be read"):
        record(path, "m", ROW)
    assert path.read_text() == "{broken"


def test_the_shipped_file_reads_without_problems_and_names_real_methods_and_presets():
    table = read_footprints(FOOTPRINTS_FILE)
    assert table.problems == () and table.rows
    known = {spec.name: spec.presets for spec in methods.entries()}
    for method, rows in table.rows.items():
        assert method in known, method
        for row in rows:
            assert row.preset in known[method] and row.device in ("cpu", "cuda") and row.measured_with.startswith("distill3d bench footprint")
            assert row.measured_on and row.torch_version and row.device_name


def test_a_recorded_peak_applies_only_to_jobs_configured_as_the_measured_one():
    from backend import methods
    from backend.methods.configs import config_to_json, resolve
    from backend.methods.footprints import measured_as

    entry = methods.get("dtc123")
    row = Footprint(preset="tiny", device="cuda", peak_bytes=1, seconds=1.0, params={"teacher": "synthetic"})

    def job(**params):
        return config_to_json(resolve(entry, "tiny", params)[1])

    assert measured_as(entry, row, job(teacher="synthetic"))
    assert not measured_as(entry, row, job()), "the zero123 teacher is another job"
    assert not measured_as(entry, row, job(teacher="synthetic", **{"memory.offload": True})), "offloading changes the peak"
    assert not measured_as(entry, Footprint(preset="tiny", device="cuda", peak_bytes=1, seconds=1.0, params={"gone": 1}), job())


def test_the_weights_floor_is_the_download_size_of_the_models_a_job_loads_unless_it_offloads():
    from backend import methods
    from backend.methods.configs import resolve
    from backend.methods.footprints import weights_bytes
    from backend.teachers.registry import ROLES

    entry = methods.get("dtc123")
    paper = resolve(entry, "paper", {})[1]
    assert weights_bytes(paper) == ROLES["zero123"].download_size + ROLES["stable_diffusion"].download_size
    assert weights_bytes(resolve(entry, "paper", {"memory.offload": True})[1]) == 0
    assert weights_bytes(resolve(entry, "tiny", {"teacher": "synthetic"})[1]) == 0
    assert weights_bytes(resolve(methods.get("prd"), "demo", {})[1]) == 0
