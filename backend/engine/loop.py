"""One training loop for every optimising method: steps, cadence, divergence, cancel, resume, progress.

A method describes one optimisation as a :class:`Task` — its step function and its schedule
callbacks — and hands it to :func:`run` with the stages it spans. The loop:

1. reads the checkpoint's step (0 when there is none), lets the task build what depends on
   it (:meth:`Task.prepare`), restores the task's :class:`~.checkpoint.TrainingState` from the
   checkpoint and tells the artist where it resumed;
2. before each step calls :meth:`Task.begin` (schedules: phases, masks, resolutions), then
   reports progress — which raises the job's cancel exception, so a cancel stops the run
   within one step and the last checkpoint stays valid;
3. runs :meth:`Task.step` and refuses non-finite results (:class:`~.errors.Diverged`) before
   anything is saved;
4. every ``checkpoint_every`` steps (and after the last) writes the checkpoint, then every
   ``preview_every`` steps sends :meth:`Task.preview` — on the main process only under data
   parallelism.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from . import checkpoint as ckpt
from .errors import Diverged


class Reporter(Protocol):
    """How the loop reports (the job context's progress reporter, or a printing one for the CLI)."""

    def progress(self, stage: str, step: int, total: int, message: str = "") -> None:
        """``step`` of ``total`` done in ``stage``; raises the job's cancel exception after a cancel."""
        ...

    def preview(self, image: Any, *, force: bool = False) -> None:
        """A progress render: an array (H, W, 3) in [0, 1] or uint8."""
        ...

    def log(self, message: str, level: str = "info") -> None:
        """A line for the artist."""
        ...


@dataclass(frozen=True)
class Stage:
    """A stretch of the run reported as one progress stage."""

    name: str
    """Progress stage name (as in the job's plan), e.g. ``coarse`` or ``stage 1``."""
    steps: int
    """Steps it spans."""


@dataclass(frozen=True)
class Cadence:
    """How often the loop previews and checkpoints."""

    preview_every: int
    """Send a preview every this many steps, and after the last (0: only after the last)."""
    checkpoint_every: int
    """Write the checkpoint every this many steps, and after the last (0: only after the last)."""

    def due(self, every: int, done: int, total: int) -> bool:
        """Whether a preview or checkpoint of period ``every`` falls after step ``done`` of ``total``."""
        return done == total or (every > 0 and done % every == 0)


@dataclass(frozen=True)
class Outcome:
    """What a finished run reports."""

    resumed_at: int
    """The step it continued from (0: it started fresh)."""
    total: int
    """Steps of the whole run."""
    last: dict[str, float]
    """The values the last step returned (empty when no step ran)."""


class NonFiniteLoss(ArithmeticError):
    """Raised by :func:`descend` before a non-finite loss reaches the parameters; the loop makes it :class:`Diverged`."""


class Task(ABC):
    """One optimisation as the loop drives it; implement :meth:`state` and :meth:`step`, override the rest as needed."""

    def prepare(self, start: int) -> None:
        """Called once, before any restore, with the step the checkpoint holds (0: a fresh run): build what depends on
        it (e.g. a grid whose resolution depends on the phase the saved step was in)."""

    @abstractmethod
    def state(self) -> ckpt.TrainingState:
        """The live objects a checkpoint saves and restores (called at every save: it may change between phases)."""

    def restored(self, values: Mapping[str, Any]) -> None:
        """The plain values :meth:`state` saved, after a restore."""

    def begin(self, step: int) -> str:
        """Schedule callback before step ``step`` (0-based); returns a detail for the progress line (may be empty)."""
        return ""

    @abstractmethod
    def step(self, step: int) -> Mapping[str, float]:
        """Run step ``step``; returns named scalars (losses …), all of which must be finite."""

    def preview(self, done: int) -> Any | None:
        """A progress render after ``done`` steps (None: nothing to show)."""
        return None


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One gradient step on ``loss``: refuses a non-finite loss before the parameters see it; returns its value."""
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLoss(value)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return value


def _locate(stages: Sequence[Stage], step: int) -> tuple[Stage, int]:
    """The stage step ``step`` (0-based, of the whole run) falls in, and its index inside that stage."""
    for stage in stages:
        if step < stage.steps:
            return stage, step
        step -= stage.steps
    return stages[-1], stages[-1].steps


def _shown(values: Mapping[str, float]) -> str:
    return ", ".join(f"{key} {value:.4g}" for key, value in values.items())


def _restore(task: Task, path: Path | None, total: int, label: str, unit: str, reporter: Reporter) -> int:
    """The step to start from: the checkpoint's, after restoring it into the task (0 without a usable one)."""
    start = 0
    if path is not None:
        try:
            start = ckpt.saved_step(path)
        except ckpt.CheckpointError as exc:
            reporter.log(f"{label}: the checkpoint is not usable ({exc}); starting over", "warning")
    task.prepare(start)
    if start:
        try:
            start, values = ckpt.load(path, task.state())
        except ckpt.CheckpointError as exc:
            reporter.log(f"{label}: the checkpoint is not usable ({exc}); starting over", "warning")
            task.prepare(0)
            return 0
        task.restored(values)
        reporter.log(f"{label} resumes at {unit} {start} of {total}")
    return start


def run(
    task: Task,
    stages: Sequence[Stage],
    cadence: Cadence,
    reporter: Reporter,
    checkpoint: Path | None,
    *,
    label: str,
    unit: str = "step",
    main_process: bool = True,
) -> Outcome:
    """Drive ``task`` through ``stages`` (see the module docstring); ``checkpoint``: the file to resume from and save to
    (None: no checkpoints); ``label``/``unit`` name the run and its steps in messages ("stage 1", "iteration");
    ``main_process``: this process previews and writes checkpoints (False on the other ranks of a data-parallel run).
    Raises :class:`Diverged` on a non-finite step, and whatever the reporter raises on cancel."""
    stages = [stage for stage in stages if stage.steps > 0]
    total = sum(stage.steps for stage in stages)
    if not stages:
        return Outcome(0, 0, {})
    start = _restore(task, checkpoint, total, label, unit, reporter)
    last: dict[str, float] = {}
    for step in range(start, total):
        stage, local = _locate(stages, step)
        detail = task.begin(step)
        message = f"{unit} {step} of {total}" + (f" · {detail}" if detail else "") + (f": {_shown(last)}" if last else "")
        reporter.progress(stage.name, local, stage.steps, message)
        try:
            last = {key: float(value) for key, value in task.step(step).items()}
        except NonFiniteLoss as exc:
            last = {"loss": exc.args[0]}
        if not all(math.isfinite(value) for value in last.values()):
            raise Diverged(f"{label} diverged at {unit} {step} ({_shown(last)}); the last checkpoint is kept — "
                           "a lower learning rate or fewer steps may help")  # fmt: skip
        done = step + 1
        if main_process and checkpoint is not None and cadence.due(cadence.checkpoint_every, done, total):
            ckpt.save(checkpoint, done, task.state())
        if main_process and cadence.due(cadence.preview_every, done, total):
            image = task.preview(done)
            if image is not None:
                reporter.preview(image, force=True)
        if local + 1 == stage.steps:
            reporter.progress(stage.name, stage.steps, stage.steps, f"{stage.name} done: {_shown(last)}")
    if start >= total:
        reporter.progress(stages[-1].name, stages[-1].steps, stages[-1].steps, f"{label} was complete in the checkpoint")
    return Outcome(start, total, last)
