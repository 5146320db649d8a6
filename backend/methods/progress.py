"""Progress, previews and cancellation: the one object a method reports through.

The reporter is transport-free: the worker gives it an ``emit`` callable (which
forwards to the broker) and an ``is_cancelled`` probe. It rate-limits progress
events and previews, estimates the ETA, encodes previews as JPEG/PNG of at
most :data:`PREVIEW_MAX_SIDE` pixels a side, and raises :class:`JobCancelled`
from the first call after a cancel.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from protocol.atomic import write_bytes

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any], bytes | None], None]
"""``emit(kind, data, payload)`` with kind ``progress``, ``preview`` or ``log``."""


class JobCancelled(Exception):
    """Raised inside a method when its job was cancelled; the worker marks the job cancelled."""


def job_fraction(plan: Sequence[tuple[str, int]], stage: str, step: int, total: int) -> float:
    """Fraction of the whole job done, 0..1: planned stages weighted by their step counts."""
    names = [name for name, _ in plan]
    if stage not in names:
        return min(step / total, 1.0) if total > 0 else 0.0
    done = sum(n for _, n in plan[: names.index(stage)]) + min(step, total)
    return min(done / max(sum(n for _, n in plan), 1), 1.0)


def eta_seconds(
    plan: Sequence[tuple[str, int]], stage: str, step: int, total: int, seconds_per_step: float | None
) -> float | None:
    """Seconds left: steps left in this stage and the planned later stages, at the current stage's pace."""
    if seconds_per_step is None or total <= 0:
        return None
    left = max(total - step, 0)
    names = [name for name, _ in plan]
    if stage in names:
        left += sum(n for _, n in plan[names.index(stage) + 1 :])
    return left * seconds_per_step


PREVIEW_MAX_SIDE = 1024
"""Longest side of an encoded preview (larger images are shrunk to it): a grid of up to 4×4 views of 256². One preview stays
under a megabyte as JPEG (0.76 MiB for 1024² of pure noise; the methods' 512² grids take 15–35 KiB), far under the
protocol's 16 MiB buffer frame."""


def encode_preview(image: Any, max_side: int) -> tuple[bytes, str, int, int]:
    """``(bytes, media_type, width, height)``: JPEG for opaque images, PNG when there is alpha.

    ``image`` is a PIL image or an array of shape (H, W, 3|4) (or (H, W)), uint8 or float in [0, 1].
    """
    from PIL import Image

    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(image)
        if array.dtype != np.uint8:
            array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        image = Image.fromarray(array)
    if max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    if image.mode in ("RGBA", "LA"):
        image.save(buffer, format="PNG", optimize=False)
        media_type = "image/png"
    else:
        image.convert("RGB").save(buffer, format="JPEG", quality=85)
        media_type = "image/jpeg"
    return buffer.getvalue(), media_type, image.width, image.height


class ProgressReporter:
    """Reports a job's progress; every call also checks for cancellation."""

    def __init__(
        self,
        emit: Emit,
        is_cancelled: Callable[[], bool] = lambda: False,
        *,
        min_interval_s: float = 0.1,
        preview_interval_s: float = 0.5,
        preview_max_side: int = PREVIEW_MAX_SIDE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._is_cancelled = is_cancelled
        self.min_interval_s = min_interval_s
        self.preview_interval_s = preview_interval_s
        self.preview_max_side = preview_max_side
        self._clock = clock
        self._plan: list[tuple[str, int]] = []
        self._stage: str | None = None
        self._stage_start: tuple[float, int] = (0.0, 0)
        self._last_progress = -float("inf")
        self._last_preview = -float("inf")
        self.stage_step: tuple[str, int] = ("", 0)

    def plan(self, stages: Sequence[tuple[str, int]]) -> None:
        """Declare the stages and their step counts, so fraction and ETA cover the whole job."""
        self._plan = [(str(name), int(steps)) for name, steps in stages]

    def check_cancelled(self) -> None:
        if self._is_cancelled():
            raise JobCancelled()

    def progress(self, stage: str, step: int, total: int, message: str = "") -> None:
        """Step ``step`` of ``total`` in ``stage`` is done. Raises :class:`JobCancelled` after a cancel."""
        self.check_cancelled()
        now = self._clock()
        if stage != self._stage:
            self._stage = stage
            self._stage_start = (now, step)
            force = True
        else:
            force = step >= total or step == 0
        self.stage_step = (stage, step)
        if not force and now - self._last_progress < self.min_interval_s:
            return
        self._last_progress = now
        start_time, start_step = self._stage_start
        pace = (now - start_time) / (step - start_step) if step > start_step else None
        self._emit(
            "progress",
            {
                "stage": stage,
                "step": int(step),
                "total": int(total),
                "fraction": job_fraction(self._plan, stage, step, total),
                "eta_s": eta_seconds(self._plan, stage, step, total, pace),
                "message": message[:500],
            },
            None,
        )

    def preview(self, image: Any, *, force: bool = False) -> None:
        """Send a progress render (rate-limited unless ``force``); see :func:`encode_preview` for ``image``."""
        self.check_cancelled()
        now = self._clock()
        if not force and now - self._last_preview < self.preview_interval_s:
            return
        self._last_preview = now
        data, media_type, width, height = encode_preview(image, self.preview_max_side)
        stage, step = self.stage_step
        self._emit(
            "preview",
            {"media_type": media_type, "width": width, "height": height, "stage": stage, "step": step},
            data,
        )

    def log(self, message: str, level: str = "info") -> None:
        """A line for the artist's job log (warnings about inputs, fallbacks taken)."""
        log.log(logging.WARNING if level == "warning" else logging.INFO, "%s", message)
        self._emit("log", {"level": level, "message": message[:2000]}, None)


PRINT_EVERY_S = 10.0
"""Seconds between the console reporter's progress lines."""


def console_reporter(work: Path, rank: int) -> ProgressReporter:
    """Progress lines on stderr (every :data:`PRINT_EVERY_S` and at stage ends) and the latest preview in ``work``,
    from rank 0 only."""

    def emit(kind: str, data: dict, payload: bytes | None) -> None:
        if rank != 0:
            return
        if kind == "progress":
            print(f"{data['stage']}: {data['step']}/{data['total']} {data['message']}", file=sys.stderr, flush=True)
        elif kind == "log":
            print(data["message"], file=sys.stderr, flush=True)
        elif kind == "preview" and payload is not None:
            write_bytes(work / f"preview.{'png' if data['media_type'] == 'image/png' else 'jpg'}", payload)

    return ProgressReporter(emit, min_interval_s=PRINT_EVERY_S)
