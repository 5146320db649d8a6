import io

import pytest

from backend.bench.dtc123_bench import run_dtc123_bench


@pytest.mark.slow
def test_the_dtc123_bench_times_each_preset_against_the_first():
    out = io.StringIO()
    run_dtc123_bench(["tiny", "tiny"], iterations=3, device="cpu", out=out)
    rows = [line for line in out.getvalue().splitlines() if line.strip().startswith("tiny")]
    assert len(rows) == 2 and rows[0].split()[3] == "1.0×"
    seconds_per_iteration = float(rows[1].split()[2])
    assert 0 < seconds_per_iteration < 60
    with pytest.raises(SystemExit, match="iterations"):
        run_dtc123_bench(["tiny"], iterations=2, device="cpu", out=out)
