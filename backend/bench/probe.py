"""``probe``: a weight-free method that exercises the whole job path.

It steps through stages, reports progress, log events and previews, and returns
a small mesh (arrays + GLB) plus an optional payload of a chosen size. The
benchmarks use it to time event delivery and result transfer; it is registered
only when this module is named in ``$DISTILL3D_PLUGINS`` (its ``SPECS``), so artists never see it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocol.schema import Record, param

from ..methods.base import JobContext, JobInputs, JobResult
from ..methods.spec import ExampleJob, MethodSpec


@dataclass(frozen=True)
class ProbeConfig(Record):
    steps: int = param(20, doc="Steps per stage.", ge=1, le=1_000_000)
    stages: int = param(1, doc="Number of stages.", ge=1, le=8)
    step_seconds: float = param(0.01, doc="Seconds each step sleeps.", ge=0.0, le=60.0)
    preview_every: int = param(5, doc="Send a preview every N steps (0: never).", ge=0)
    preview_size: int = param(64, doc="Preview side, pixels.", ge=8, le=1024)
    log_every: int = param(0, doc="Send a log event every N steps (0: never); not rate-limited.", ge=0)
    payload_mib: float = param(0.0, doc="Size of an extra uint8 array 'payload' in the result, MiB.", ge=0.0, le=1024.0)


def preview_image(size: int, fraction: float) -> Any:
    """A (size, size, 3) uint8 gradient whose red channel follows ``fraction``: visibly changes as the job runs."""
    import numpy as np

    ramp = np.linspace(0, 255, size, dtype=np.float32)
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[..., 0] = int(255 * fraction)
    image[..., 1] = ramp[None, :]
    image[..., 2] = ramp[:, None]
    return image


def tetrahedron() -> tuple[Any, Any]:
    """``(positions (4, 3) float32, faces (4, 3) int32)`` of a regular tetrahedron, outward-facing."""
    import numpy as np

    positions = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float32) * 0.5
    faces = np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]], dtype=np.int32)
    return positions, faces


FACE_COLORS = ((220, 60, 50), (60, 160, 70), (50, 90, 210), (230, 200, 60))
"""Texture colour of each tetrahedron face (one texture quadrant each)."""


def textured_tetrahedron(texture_size: int = 32) -> Any:
    """A :class:`MeshAsset`: the tetrahedron with split vertices (12), flat normals, UVs and one coloured texture quadrant per face."""
    import numpy as np

    from ..core.glb import MeshAsset

    corners, faces = tetrahedron()
    positions = corners[faces.ravel()]
    edges = np.cross(positions[1::3] - positions[0::3], positions[2::3] - positions[0::3])
    normals = np.repeat(edges / np.linalg.norm(edges, axis=1, keepdims=True), 3, axis=0).astype(np.float32)
    quadrants = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [0.5, 0.5]], dtype=np.float32)
    triangle = np.array([[0.05, 0.05], [0.45, 0.05], [0.05, 0.45]], dtype=np.float32)
    uvs = (quadrants[:, None, :] + triangle[None]).reshape(-1, 2)
    half = texture_size // 2
    texture = np.zeros((texture_size, texture_size, 3), dtype=np.uint8)
    for (u, v), color in zip(quadrants, FACE_COLORS):
        top = texture_size - half - int(v * texture_size)  # uv origin is bottom-left, row 0 is the top
        texture[top : top + half, int(u * texture_size) : int(u * texture_size) + half] = color
    return MeshAsset(positions=positions, normals=normals, faces=np.arange(12, dtype=np.int32).reshape(4, 3), uvs=uvs, texture=texture)


class ProbeMethod:
    def run(self, inputs: JobInputs, config: ProbeConfig, context: JobContext) -> JobResult:
        import numpy as np

        reporter = context.reporter
        names = [f"stage{i + 1}" for i in range(config.stages)]
        reporter.plan([(name, config.steps) for name in names])
        for index, stage in enumerate(names):
            for step in range(1, config.steps + 1):
                if config.step_seconds:
                    time.sleep(config.step_seconds)
                reporter.progress(stage, step, config.steps)
                if config.log_every and step % config.log_every == 0:
                    reporter.log(f"{stage} step {step}")
                if config.preview_every and step % config.preview_every == 0:
                    done = (index * config.steps + step) / (config.stages * config.steps)
                    reporter.preview(preview_image(config.preview_size, done), force=True)
        result = JobResult(metadata={"steps": config.steps * config.stages, "seed": inputs.seed, "prompt": inputs.prompt})
        result.add_mesh(textured_tetrahedron())
        if config.payload_mib:
            rng = np.random.default_rng(inputs.seed)
            result.arrays["payload"] = rng.integers(0, 256, int(config.payload_mib * (1 << 20)), dtype=np.uint8)
        return result


def example_job(folder: Path) -> ExampleJob:
    """The quick preset: three steps, a preview each, no sleeping."""
    return ExampleJob("quick")


SPECS = (
    MethodSpec(
        name="probe",
        description="Diagnostic: steps, previews and a tetrahedron, no weights; for benchmarks and smoke tests.",
        config_class=ProbeConfig,
        factory="backend.bench.probe:ProbeMethod",
        presets={"default": {}, "quick": {"steps": 3, "step_seconds": 0.0, "preview_every": 1}},
        example="backend.bench.probe:example_job",
    ),
)
