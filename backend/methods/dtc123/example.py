"""DTC123's weight-free example job: a synthetic-world object teaches, a few iterations of each stage."""

from __future__ import annotations

from pathlib import Path

from protocol.messages import Camera

from ..spec import ExampleJob


def example_job(folder: Path) -> ExampleJob:
    """A snowman of the synthetic world as the target (written to ``folder``), the tiny preset cut to 6 + 4 iterations."""
    import torch

    from ...teachers.synthetic.families import family
    from ...teachers.synthetic.glb_io import export_scene

    target = folder / "target.glb"
    target.write_bytes(export_scene(family("snowman").sample(torch.Generator().manual_seed(0)))[1])
    return ExampleJob(
        "tiny",
        params={"teacher": "synthetic", "target": str(target), "coarse.iterations": 6, "fine.iterations": 4,
                "fine.grid_resolutions": (8, 12), "fine.raster_resolutions": (16, 24)},
        camera=Camera(elevation_deg=15.0),
        resume_stage="coarse",
        resume_params={"coarse.checkpoint_every": 2, "fine.checkpoint_every": 2},
    )  # fmt: skip
