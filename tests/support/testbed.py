"""``testbed``: the probe method plus injected faults, registered for tests through $DISTILL3D_PLUGINS."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from backend.bench.probe import ProbeConfig, ProbeMethod
from backend.methods.spec import ExampleJob, MethodSpec
from backend.methods.base import JobContext, JobInputs, JobResult, MethodError
from protocol.errors import ErrorCode
from protocol.schema import Record, param


@dataclass(frozen=True)
class Noise(Record):
    scale: float = param(1.0, doc="A nested parameter, to test dotted names.", ge=0.0, le=10.0)
    kind: str = param("gauss", doc="A string choice.", choices=("gauss", "uniform"))


@dataclass(frozen=True)
class TestbedConfig(ProbeConfig):
    __test__ = False  # not a pytest test class

    fail_at_step: int = param(-1, doc="Raise a MethodError at this step.")
    bug_at_step: int = param(-1, doc="Raise a RuntimeError (a bug) at this step.")
    crash_at_step: int = param(-1, doc="Kill the worker process (os._exit) at this step.")
    hang_at_step: int = param(-1, doc="Sleep forever, ignoring cancel, at this step.")
    missing_model: bool = param(False, doc="Fail as if a model were missing.")
    noise: Noise = param(factory=Noise, doc="Nested group.")
    needs_model: str = param("", doc="A model registry role the job requires, checked at submit time.")

    def required_models(self) -> tuple[str, ...]:
        return (self.needs_model,) if self.needs_model else ()


class TestbedMethod:
    __test__ = False

    def run(self, inputs: JobInputs, config: TestbedConfig, context: JobContext) -> JobResult:
        if config.missing_model:
            raise MethodError("model 'zero123' is not on disk; run `distill3d models` to see how to get it", ErrorCode.MISSING_MODEL)
        reporter = context.reporter
        report = reporter.progress

        def progress(stage: str, step: int, total: int, message: str = "") -> None:
            if step == config.crash_at_step:
                os._exit(3)
            if step == config.fail_at_step:
                raise MethodError(f"testbed failure at step {step}")
            if step == config.bug_at_step:
                raise RuntimeError(f"testbed bug at step {step}")
            if step == config.hang_at_step:
                while True:
                    time.sleep(1)
            report(stage, step, total, message)

        reporter.progress = progress  # type: ignore[method-assign]
        result = ProbeMethod().run(inputs, config, context)
        result.metadata["has_image"] = inputs.image is not None
        if inputs.image is not None:
            result.metadata["image_size"] = list(inputs.image.size)
        if inputs.camera is not None:
            result.metadata["elevation"] = inputs.camera.elevation_deg
        return result


def example_job(folder: Path) -> ExampleJob:
    return ExampleJob("quick")


def needs_image_example(folder: Path) -> ExampleJob:
    from PIL import Image

    return ExampleJob("default", prompt="a probe", image=Image.new("RGBA", (32, 32), (200, 40, 40, 255)))


TESTBED = MethodSpec(
    name="testbed",
    description="Test-only method: the probe plus injected faults.",
    config_class=TestbedConfig,
    factory="tests.support.testbed:TestbedMethod",
    presets={"default": {}, "quick": {"steps": 3, "step_seconds": 0.0, "preview_every": 1}},
    example="tests.support.testbed:example_job",
)


@dataclass(frozen=True)
class NeedsImageConfig(TestbedConfig):
    """The testbed's config (it runs the testbed method); the spec adds the image and prompt requirements."""

    __test__ = False


SPECS = (
    TESTBED,
    MethodSpec(
        name="needs-image",
        description="Test-only method that requires an image and a prompt.",
        config_class=NeedsImageConfig,
        factory="tests.support.testbed:TestbedMethod",
        needs_image=True,
        needs_prompt=True,
        example="tests.support.testbed:needs_image_example",
    ),
)
