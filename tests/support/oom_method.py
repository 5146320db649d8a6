"""``oom``: a test-only method that keeps a "model" across jobs and can run out of memory the way torch does on a GPU
(``torch.OutOfMemoryError``, raised here on the CPU); installed for a test through ``$DISTILL3D_PLUGINS``."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from backend.methods.base import JobContext, JobInputs, JobResult
from backend.methods.spec import ExampleJob, MethodSpec
from protocol.schema import Record, param

_instances = itertools.count(1)


@dataclass(frozen=True)
class OomConfig(Record):
    run_out: bool = param(False, doc="Raise torch.OutOfMemoryError in the job's second step.")


class OomMethod:
    """Each instance holds a tensor, as a method holds its models; the worker keeps instances between jobs."""

    def __init__(self) -> None:
        import torch

        self.model = torch.zeros(1 << 20)
        self.instance = next(_instances)

    def run(self, inputs: JobInputs, config: OomConfig, context: JobContext) -> JobResult:
        import torch

        context.reporter.plan([("work", 2)])
        context.reporter.progress("work", 1, 2)
        if config.run_out:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (the test's stand-in)")
        context.reporter.progress("work", 2, 2)
        return JobResult(metadata={"pid": os.getpid(), "instance": self.instance, "model_elements": int(self.model.numel())})


def example_job(folder: Path) -> ExampleJob:
    return ExampleJob("default")


SPECS = (
    MethodSpec(
        name="oom",
        description="Test-only method: keeps a tensor as its model and can raise torch.OutOfMemoryError.",
        config_class=OomConfig,
        factory="tests.support.oom_method:OomMethod",
        presets={"default": {}, "greedy": {"run_out": True}},
        example="tests.support.oom_method:example_job",
    ),
)
