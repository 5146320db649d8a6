import io

import numpy as np
import pytest
from PIL import Image

from backend.methods.progress import PREVIEW_MAX_SIDE, JobCancelled, ProgressReporter, encode_preview, eta_seconds, job_fraction

PLAN = [("coarse", 100), ("fine", 300)]


def test_job_fraction_weights_stages_by_steps():
    assert job_fraction(PLAN, "coarse", 50, 100) == pytest.approx(50 / 400)
    assert job_fraction(PLAN, "fine", 150, 300) == pytest.approx(250 / 400)
    assert job_fraction([], "any", 3, 4) == 0.75
    assert job_fraction([], "any", 3, 0) == 0.0


def test_eta_counts_later_stages():
    assert eta_seconds(PLAN, "coarse", 50, 100, 0.1) == pytest.approx((50 + 300) * 0.1)
    assert eta_seconds(PLAN, "fine", 300, 300, 0.1) == 0.0
    assert eta_seconds(PLAN, "coarse", 0, 100, None) is None


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, kind, data, payload):
        self.events.append((kind, data, payload))


def test_progress_is_rate_limited_but_keeps_stage_changes_and_ends():
    now = [0.0]
    emit = Recorder()
    reporter = ProgressReporter(emit, clock=lambda: now[0], min_interval_s=1.0)
    reporter.plan(PLAN)
    for step in range(1, 101):
        now[0] += 0.05
        reporter.progress("coarse", step, 100)
    steps = [d["step"] for k, d, _ in emit.events]
    assert steps[0] == 1 and steps[-1] == 100 and len(steps) < 10
    now[0] += 0.01
    reporter.progress("fine", 1, 300)
    last = emit.events[-1][1]
    assert last["stage"] == "fine" and last["fraction"] == pytest.approx(101 / 400)


def test_eta_follows_the_measured_pace():
    now = [0.0]
    emit = Recorder()
    reporter = ProgressReporter(emit, clock=lambda: now[0], min_interval_s=0)
    reporter.progress("only", 0, 10)
    now[0] = 4.0
    reporter.progress("only", 4, 10)
    assert emit.events[-1][1]["eta_s"] == pytest.approx(6.0)


def test_cancel_raises_from_every_call():
    cancelled = [False]
    reporter = ProgressReporter(Recorder(), lambda: cancelled[0])
    reporter.progress("s", 1, 2)
    cancelled[0] = True
    for call in (lambda: reporter.progress("s", 2, 2), lambda: reporter.preview(np.zeros((4, 4, 3))), reporter.check_cancelled):
        with pytest.raises(JobCancelled):
            call()


def test_previews_are_small_and_rate_limited():
    now = [0.0]
    emit = Recorder()
    reporter = ProgressReporter(emit, clock=lambda: now[0], preview_interval_s=1.0, preview_max_side=64)
    image = np.random.default_rng(0).random((300, 200, 3))
    reporter.preview(image)
    reporter.preview(image)
    reporter.preview(image, force=True)
    assert len(emit.events) == 2
    kind, data, payload = emit.events[0]
    assert kind == "preview" and data["media_type"] == "image/jpeg" and (data["width"], data["height"]) == (43, 64)
    assert Image.open(io.BytesIO(payload)).size == (43, 64)


def test_a_grid_of_256_pixel_views_is_sent_whole_and_larger_images_are_capped():
    """The default reporter keeps a 2×2 grid of 256² views at 512² (the old 256-pixel cap shrank four views to 64² each) and
    still rate-limits; an image over PREVIEW_MAX_SIDE is shrunk to it, so a preview's bytes stay bounded."""
    now = [0.0]
    emit = Recorder()
    reporter = ProgressReporter(emit, clock=lambda: now[0])
    grid = np.random.default_rng(0).random((512, 512, 3))
    for _ in range(3):
        reporter.preview(grid)
        now[0] += reporter.preview_interval_s / 4
    assert len(emit.events) == 1, "rate-limited: one preview per preview_interval_s"
    _, data, payload = emit.events[0]
    assert (data["width"], data["height"]) == (512, 512) and Image.open(io.BytesIO(payload)).size == (512, 512)
    now[0] += reporter.preview_interval_s
    reporter.preview(np.random.default_rng(1).random((2 * PREVIEW_MAX_SIDE, 2 * PREVIEW_MAX_SIDE, 3)))
    _, data, payload = emit.events[-1]
    assert len(emit.events) == 2 and (data["width"], data["height"]) == (PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE)
    assert len(payload) < 1 << 20, "even noise, the worst case for JPEG, stays under a megabyte"


def test_alpha_previews_are_png():
    data, media_type, width, height = encode_preview(np.zeros((8, 8, 4), dtype=np.uint8), 256)
    assert media_type == "image/png" and Image.open(io.BytesIO(data)).mode == "RGBA"
