import io

from backend.follow import ProgressDisplay, format_eta
from protocol.messages import Progress


def test_eta_format():
    assert format_eta(None) == "ETA --:--"
    assert format_eta(75.4) == "ETA 01:15"
    assert format_eta(3725) == "ETA 1:02:05"


def test_plain_output_names_stages_and_reports_eta_periodically():
    out = io.StringIO()
    display = ProgressDisplay(out, line_every_s=0.0)
    display.update(Progress(stage="coarse", step=1, total=10, fraction=0.05, eta_s=90))
    display.update(Progress(stage="coarse", step=5, total=10, fraction=0.25, eta_s=60))
    display.update(Progress(stage="fine", step=1, total=20, fraction=0.55, eta_s=30))
    text = out.getvalue()
    assert "stage coarse: 10 steps" in text and "stage fine: 20 steps" in text
    assert "coarse 5/10 (25% of the job) ETA 01:00" in text
