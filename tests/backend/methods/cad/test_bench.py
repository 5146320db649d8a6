import io

import pytest

from backend.methods.cad.bench import _time_training, run_cad_bench


@pytest.mark.slow
def test_the_cad_bench_times_both_stages_projects_the_schedule_and_times_the_shipped_generator():
    out = io.StringIO()
    run_cad_bench(["tiny", "tiny"], steps=1, device="cpu", generator="shipped", repeats=2, out=out)
    text = out.getvalue()
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("tiny")]
    assert len(rows) == 2 and rows[0][-1] == "1.0×"
    _, stage1_s, _, stage2_s, _, hours, _ = rows[1]
    assert 0 < float(stage1_s) < 60 and 0 < float(stage2_s) < 60
    printing_error_h = 0.005 + (300 + 60) * 0.0005 / 3600  # hours to 0.01, s/step to 0.001
    assert abs(float(hours) - (300 * float(stage1_s) + 60 * float(stage2_s)) / 3600) <= printing_error_h, "tiny: 300 + 60 steps"
    sampling = text.split("Sampling and scrubbing")[1].splitlines()
    preview_ms, preview_faces, full_ms, full_faces, updates = next(line.split() for line in sampling if line.strip()[:1].isdigit())
    assert int(full_faces) > int(preview_faces) > 0 and float(updates) > 0
    with pytest.raises(SystemExit, match="steps"):
        run_cad_bench(["tiny"], steps=0, device="cpu", generator=None, out=out)


@pytest.mark.slow
def test_the_projection_covers_the_presets_whole_schedule_not_the_timed_steps():
    stage1, stage2, hours = _time_training("tiny", 1, "cpu")
    assert hours == pytest.approx((300 * stage1 + 60 * stage2) / 3600, rel=1e-9), "tiny: 300 + 60 steps"
