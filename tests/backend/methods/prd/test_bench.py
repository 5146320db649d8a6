import io

import pytest

from backend.methods.prd.bench import run_prd_bench


@pytest.mark.slow
def test_the_prd_bench_times_every_stage_of_a_mesh_and_sums_them():
    out = io.StringIO()
    run_prd_bench(["tiny", "tiny"], repeats=1, device="cpu", resolution=32, out=out)
    text = out.getvalue()
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("tiny")]
    assert len(rows) == 2 and rows[0][7] == "1.0×" and "marching cubes 32³" in text
    text_s, unet_s, decode_s, mc_s, export_s, total_s = (float(v) for v in rows[1][1:7])
    assert all(v > 0 for v in (text_s, unet_s, decode_s, mc_s, export_s))
    assert abs(text_s + unet_s + decode_s + mc_s + export_s - total_s) <= 0.006, "the stages make up the total"
    assert int(rows[1][8]) > 0 and rows[1][9] == "—", "faces; no GPU memory on a CPU"
    with pytest.raises(SystemExit, match="repeats"):
        run_prd_bench(["tiny"], repeats=0, device="cpu", resolution=32, out=out)
