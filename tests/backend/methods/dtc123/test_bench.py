import io

import pytest

from backend.methods.dtc123.bench import run_dtc123_bench


@pytest.mark.slow
def test_the_dtc123_bench_times_both_stages_of_each_preset_against_the_first():
    out = io.StringIO()
    run_dtc123_bench(["tiny", "tiny"], iterations=3, device="cpu", out=out)
    rows = [line.split() for line in out.getvalue().splitlines() if line.strip().startswith("tiny")]
    assert len(rows) == 2 and rows[0][-1] == "1.0×"
    preset, coarse_its, coarse_s, fine_its, fine_s, export_s, minutes, _ = rows[1]
    assert (coarse_its, fine_its) == ("300", "120"), "the preset's full iteration counts, not the timed ones"
    assert 0 < float(coarse_s) < 60 and 0 < float(fine_s) < 60 and float(export_s) > 0
    printing_error_s = 0.05 * 60 + (300 + 120) * 0.0005  # minutes to 0.1, s/iteration to 0.001
    assert float(minutes) * 60 + printing_error_s >= 300 * float(coarse_s) + 120 * float(fine_s)
    with pytest.raises(SystemExit, match="iterations"):
        run_dtc123_bench(["tiny"], iterations=2, device="cpu", out=out)
    with pytest.raises(SystemExit, match="teachers"):
        run_dtc123_bench(["tiny"], iterations=3, device="cpu", teachers="imaginary", out=out)
