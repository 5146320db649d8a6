"""The engine's loop on a toy regression: cadence, cancel, resume, divergence, stages."""

import math

import pytest
import torch

from backend.engine.checkpoint import TrainingState, save, saved_step
from backend.engine.errors import Diverged
from backend.engine.loop import Cadence, NonFiniteLoss, Stage, Task, descend, run


class Stop(Exception):
    pass


class Recorder:
    """A reporter that records what the loop says; ``stop_at=(stage, step)`` raises there (a cancel)."""

    def __init__(self, stop_at=None) -> None:
        self.progress_calls, self.previews, self.logs, self.stop_at = [], [], [], stop_at

    def progress(self, stage, step, total, message=""):
        if (stage, step) == self.stop_at:
            raise Stop
        self.progress_calls.append((stage, step, total))

    def preview(self, image, *, force=False):
        self.previews.append(image)

    def log(self, message, level="info"):
        self.logs.append(message)


class Regression(Task):
    """Fits w to 3 on noisy samples; ``poison_at`` makes that step's loss NaN."""

    def __init__(self, poison_at: int = -1) -> None:
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.module = torch.nn.Module()
        self.module.w = self.w
        self.optimizer = torch.optim.SGD([self.w], lr=0.1, momentum=0.9)
        self.generator = torch.Generator().manual_seed(0)
        self.poison_at, self.prepared, self.begun = poison_at, [], []

    def prepare(self, start):
        self.prepared.append(start)

    def state(self):
        return TrainingState({"m": self.module}, {"sgd": self.optimizer}, {"rng": self.generator}, {"begun": len(self.begun)})

    def begin(self, step):
        self.begun.append(step)
        return f"lr {self.optimizer.param_groups[0]['lr']}"

    def step(self, step):
        noise = torch.randn(1, generator=self.generator)
        loss = (self.w - 3 + 0.01 * noise).pow(2).sum() * (math.nan if step == self.poison_at else 1.0)
        return {"loss": descend(self.optimizer, loss)}

    def preview(self, done):
        return float(self.w.detach())


STAGES = [Stage("one", 4), Stage("two", 6)]


def test_progress_is_per_stage_and_previews_and_checkpoints_follow_the_cadence(tmp_path):
    reporter, task = Recorder(), Regression()
    outcome = run(task, STAGES, Cadence(preview_every=3, checkpoint_every=4), reporter, tmp_path / "c.safetensors", label="toy")
    assert outcome.resumed_at == 0 and outcome.total == 10 and outcome.last["loss"] < 1.0
    assert reporter.progress_calls[:5] == [("one", 0, 4), ("one", 1, 4), ("one", 2, 4), ("one", 3, 4), ("one", 4, 4)]
    assert reporter.progress_calls[5:] == [("two", k, 6) for k in range(7)]
    assert len(reporter.previews) == 4, "after steps 3, 6, 9 and the last"
    assert saved_step(tmp_path / "c.safetensors") == 10 and task.begun == list(range(10))


def test_a_cancel_stops_before_the_next_step_and_the_rerun_ends_where_the_straight_run_does(tmp_path):
    straight = Regression()
    run(straight, STAGES, Cadence(0, 3), Recorder(), tmp_path / "a.safetensors", label="toy")
    stopped = Regression()
    with pytest.raises(Stop):
        run(stopped, STAGES, Cadence(0, 3), Recorder(stop_at=("two", 3)), tmp_path / "b.safetensors", label="toy")
    assert stopped.begun[-1] == 7 and saved_step(tmp_path / "b.safetensors") == 6, "step 7 was never run; the checkpoint of 6 stays"
    resumed, reporter = Regression(), Recorder()
    outcome = run(resumed, STAGES, Cadence(0, 3), reporter, tmp_path / "b.safetensors", label="toy", unit="iteration")
    assert outcome.resumed_at == 6 and resumed.prepared == [6] and resumed.begun == [6, 7, 8, 9]
    assert reporter.logs == ["toy resumes at iteration 6 of 10"] and reporter.progress_calls[0] == ("two", 2, 6)
    assert torch.equal(resumed.w, straight.w), "the same stream and momentum: the same result"


def test_a_non_finite_loss_never_reaches_the_parameters_nor_a_checkpoint(tmp_path):
    task = Regression(poison_at=5)
    with pytest.raises(Diverged, match="toy diverged at step 5"):
        run(task, STAGES, Cadence(0, 1), Recorder(), tmp_path / "c.safetensors", label="toy")
    assert math.isfinite(float(task.w.detach())) and saved_step(tmp_path / "c.safetensors") == 5
    with pytest.raises(NonFiniteLoss):
        descend(task.optimizer, torch.tensor(math.inf, requires_grad=True))


def test_an_unusable_checkpoint_is_reported_and_the_run_starts_over(tmp_path):
    path = tmp_path / "c.safetensors"
    save(path, 3, TrainingState({"other": torch.nn.Linear(2, 2)}))
    task, reporter = Regression(), Recorder()
    outcome = run(task, STAGES, Cadence(0, 0), reporter, path, label="toy")
    assert outcome.resumed_at == 0 and task.prepared == [3, 0] and "starting over" in reporter.logs[0]
    assert saved_step(path) == 10


def test_a_run_complete_in_its_checkpoint_runs_no_step_and_says_so(tmp_path):
    run(Regression(), STAGES, Cadence(0, 0), Recorder(), tmp_path / "c.safetensors", label="toy")
    task, reporter = Regression(), Recorder()
    outcome = run(task, STAGES, Cadence(0, 0), reporter, tmp_path / "c.safetensors", label="toy")
    assert outcome.resumed_at == 10 and task.begun == [] and reporter.progress_calls == [("two", 6, 6)]
