import io

import pytest

from backend.bench.export_bench import run_export_bench
from backend.bench.render_bench import run_render_bench

pytestmark = pytest.mark.slow


def rows(text, first_word):
    return [line.split() for line in text.splitlines() if line.strip().startswith(first_word)]


def test_export_bench_compares_with_the_usual_path():
    out = io.StringIO()
    run_export_bench([2000], [48], usual_resolution=64, repeats=1, texture_size=256, out=out)
    text = out.getvalue()
    ours, usual = rows(text, "ours:")[0], rows(text, "usual:")[0]
    assert ours[-1].endswith("×") and usual[-1] == "1×"
    total_ours, total_usual = float(ours[-3]), float(usual[-3])
    assert total_ours > 0 and total_usual > 0
    assert float(ours[-1].rstrip("×")) == pytest.approx(total_usual / total_ours, rel=0.5, abs=1)


def test_render_bench_reports_every_resolution():
    out = io.StringIO()
    run_render_bench([16, 32], hashgrid_max=16, faces=2000, repeats=1, device="cpu", out=out)
    text = out.getvalue()
    assert len(rows(text, "triplane")) == 2 and len(rows(text, "hash")) == 1
    raster = [line.split() for line in text.splitlines() if "²" in line and line.split()[0].replace(",", "").isdigit()]
    assert [r[1] for r in raster] == ["16²", "32²"] and all(float(r[2].replace(",", "")) > 0 for r in raster)
