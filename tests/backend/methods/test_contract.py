"""The contract every registered method keeps, present and future: the registry's whole list, test plugins included.

Each method's spec names a weight-free example job (its tiny preset, cut short); on it the method must
run and report progress that covers its plan, stop with ``JobCancelled`` at the step after a cancel in
every stage it reports, and — when it says it is resumable — continue an interrupted run from its
checkpoint instead of starting over. Its presets must resolve and its configs survive the JSON round
trip the job store puts them through.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from backend import methods
from backend.methods.base import JobContext, JobInputs, JobResult
from backend.methods.configs import check_inputs, config_from_json, config_to_json, describe, resolve
from backend.methods.progress import JobCancelled, ProgressReporter
from backend.methods.spec import ExampleJob, MethodSpec
from backend.server.results import write_result

SPECS = methods.entries()
NAMES = [spec.name for spec in SPECS]


@dataclass
class Run:
    """What one run of an example job did."""

    events: list
    """``(kind, data)`` in order."""
    plan: list
    """The stages the method planned: ``[(name, steps), …]``."""
    result: JobResult | None
    """The result (None when the run was cancelled)."""
    cancelled: bool
    """The run ended with ``JobCancelled``."""
    progress_after_cancel: int
    """Progress events reported after the cancel was requested."""

    def progress(self) -> list[dict]:
        return [data for kind, data in self.events if kind == "progress"]


def run_example(spec: MethodSpec, folder: Path, work: Path, job: ExampleJob, extra: dict | None = None, cancel_when=None) -> Run:
    """Run ``job`` of ``spec`` in ``work``; ``cancel_when(progress data)`` → True requests a cancel from that event on."""
    events: list = []
    plan: list = []
    state = {"cancel": False, "after": 0}

    def emit(kind, data, payload):
        if kind == "progress" and state["cancel"]:
            state["after"] += 1
        events.append((kind, data))
        if kind == "progress" and cancel_when is not None and cancel_when(data):
            state["cancel"] = True

    reporter = ProgressReporter(emit, lambda: state["cancel"], min_interval_s=0.0, preview_interval_s=0.0)
    planned = reporter.plan
    reporter.plan = lambda stages: (plan.extend(stages), planned(stages))  # type: ignore[method-assign]
    work.mkdir(parents=True, exist_ok=True)
    context = JobContext(job_id="job", device="cpu", work_dir=work, reporter=reporter, generator_dir=work / "generator",
                         generators=methods.generator_catalog())  # fmt: skip
    _, config = resolve(spec, job.preset, {**job.params, **(extra or {})})
    inputs = JobInputs(job.prompt, "", 7, job.camera, job.image, dict(job.arrays))
    try:
        result = methods.create(spec.name).run(inputs, config, context)
        reporter.check_cancelled()  # as the worker does: a cancel that came with the last step still cancels the job
    except JobCancelled:
        return Run(events, plan, None, True, state["after"])
    return Run(events, plan, result, False, state["after"])


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """Per method: ``(example job, its uninterrupted run)``, made once."""
    made: dict[str, tuple[ExampleJob, Run]] = {}

    def get(spec: MethodSpec) -> tuple[ExampleJob, Run]:
        if spec.name not in made:
            folder = tmp_path_factory.mktemp(spec.name)
            job = methods.resolve_reference(spec.example)(folder)
            made[spec.name] = job, run_example(spec, folder, folder / "plain", job)
        return made[spec.name]

    return get


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_presets_resolve_and_every_config_survives_the_round_trip(spec):
    for preset in spec.presets:
        name, config = resolve(spec, preset, {})
        assert name == preset
        assert config_from_json(spec.config_class, config_to_json(config)) == config, f"preset {preset} changes in the job store"
    assert all(info.doc for info in describe(spec.config_class)), "every parameter is documented"


@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_every_method_names_an_example_job_that_resolves(spec, tmp_path):
    assert spec.example, f"method {spec.name} has no example job (MethodSpec.example)"
    job = methods.resolve_reference(spec.example)(tmp_path)
    assert job.preset in spec.presets
    check_inputs(resolve(spec, job.preset, {**job.params, **job.resume_params})[1])  # what submit checks before a job exists
    if spec.resumable:
        assert job.resume_stage, "a resumable method names the stage its example is interrupted in"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_the_example_runs_and_its_progress_covers_the_plan(spec, examples):
    _, run = examples(spec)
    assert not run.cancelled and isinstance(run.result, JobResult)
    progress = run.progress()
    assert progress, "a method reports progress"
    planned = [name for name, _ in run.plan]
    assert planned and {p["stage"] for p in progress} <= set(planned), "every stage reported is in the plan"
    fractions = [p["fraction"] for p in progress]
    assert all(b >= a - 1e-9 for a, b in zip(fractions, fractions[1:])), "the job's fraction never goes back"
    assert fractions[-1] == pytest.approx(1.0), "the last event says the job is done"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_the_result_is_one_the_job_store_can_keep(spec, examples, tmp_path):
    _, run = examples(spec)
    manifest = write_result(tmp_path / "result", run.result)
    assert manifest.items or manifest.metadata


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("spec", SPECS, ids=NAMES)
def test_a_cancel_in_any_stage_stops_the_run_at_its_next_step(spec, examples, tmp_path_factory):
    job, plain = examples(spec)
    stages = list(dict.fromkeys(p["stage"] for p in plain.progress()))
    for stage in stages:
        folder = tmp_path_factory.mktemp(f"{spec.name}-cancel")
        run = run_example(spec, folder, folder / "work", methods.resolve_reference(spec.example)(folder),
                          cancel_when=lambda data, stage=stage: data["stage"] == stage)  # fmt: skip
        assert run.cancelled, f"a cancel during {stage!r} ends the job as cancelled (not failed, not finished)"
        assert run.progress_after_cancel == 0, f"no step of {stage!r} or later is reported after the cancel"


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("spec", [s for s in SPECS if s.resumable], ids=[s.name for s in SPECS if s.resumable])
def test_an_interrupted_run_continues_from_its_checkpoint(spec, tmp_path):
    job = methods.resolve_reference(spec.example)(tmp_path)
    stage = job.resume_stage
    work = tmp_path / "work"
    first = run_example(spec, tmp_path, work, job, job.resume_params, cancel_when=lambda data: data["stage"] == stage and data["step"] == 3)
    assert first.cancelled and any(p["stage"] == stage and p["step"] == 3 for p in first.progress())
    again = run_example(spec, tmp_path, work, job, job.resume_params)
    steps = [p["step"] for p in again.progress() if p["stage"] == stage]
    assert again.result is not None and steps and steps[0] > 0, f"the rerun continues {stage!r} at step {steps[:1]}, not from 0"
    assert any(kind == "log" and "resumes at" in data["message"] for kind, data in again.events)
