import io

import pytest

from backend.bench.protocol_bench import run_protocol_bench

pytestmark = pytest.mark.slow


def test_bench_prints_transfer_latency_and_memory_tables():
    out = io.StringIO()
    run_protocol_bench(sizes_mib=[1, 2], events=50, bad_frames=200, out=out)
    text = out.getvalue()
    rows = {line.split()[0] + " " + line.split()[1]: line.split() for line in text.splitlines() if "MiB " in line[:8]}
    assert set(rows) == {"1 MiB", "2 MiB"}
    for cells in rows.values():
        ours, raw, ratio = (float(c.replace(",", "")) for c in cells[2:5])
        assert ours > 0 and raw > 0 and ratio == pytest.approx(ours / raw, rel=0.05, abs=0.01)
    latency = next(line for line in text.splitlines() if line.strip().startswith("50 "))
    p50, p99 = (float(x) for x in latency.split()[1:3])
    assert 0 < p50 <= p99
    assert "bad frames counted as dropped: 200" in text and "bad_signature=" in text
    changes = [float(line.split()[-1]) for line in text.splitlines() if "stranger" in line]
    assert len(changes) == 2 and max(changes) < 64, "480 MiB offered without the key; the backend took none of it in"
    bomb = next(line for line in text.splitlines() if "last scan ×300" in line).split()
    assert bomb[-1] == "invalid_image" and float(bomb[-2]) < 1000, "refused, and the next ping is not held up"
    assert sum("accepted" in line for line in text.splitlines()) == 3
