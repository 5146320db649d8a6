"""``echo``: a method that lives only in the tests, installed through the ``distill3d.methods`` entry-point group
(no file of the backend names it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.methods.base import JobContext, JobInputs, JobResult
from backend.methods.spec import CliOption, ExampleJob, MethodSpec
from protocol.schema import Record, param


@dataclass(frozen=True)
class EchoConfig(Record):
    repeats: int = param(2, doc="How many times the prompt is echoed.", ge=1, le=10)
    shout: bool = param(False, doc="Upper-case the echo.")


class EchoMethod:
    def run(self, inputs: JobInputs, config: EchoConfig, context: JobContext) -> JobResult:
        context.reporter.plan([("echo", config.repeats)])
        words = []
        for step in range(config.repeats):
            context.reporter.progress("echo", step, config.repeats, f"echo {step}")
            words.append(inputs.prompt.upper() if config.shout else inputs.prompt)
        context.reporter.progress("echo", config.repeats, config.repeats, "done")
        return JobResult(metadata={"echo": " ".join(words)})


def example_job(folder: Path) -> ExampleJob:
    return ExampleJob("default", prompt="hello")


SPECS = (
    MethodSpec(
        name="echo",
        description="Test-only plugin method: echoes the prompt.",
        config_class=EchoConfig,
        factory="tests.support.plugin_method:EchoMethod",
        cli_options=(CliOption("--shout", "shout", "upper-case the echo", "BOOL"),),
        example="tests.support.plugin_method:example_job",
    ),
)
