"""CAD's weight-free example jobs: a distillation from the synthetic prior, and an inversion with the shipped generator."""

from __future__ import annotations

from pathlib import Path

from protocol.messages import Camera

from ..spec import ExampleJob


def example_job(folder: Path) -> ExampleJob:
    """The tiny preset on the synthetic snowman family, cut to 16 poses and 6 + 2 training steps."""
    return ExampleJob(
        "tiny",
        params={"prior": "synthetic", "family": "snowman", "sampling.samples": 16, "train.stage1_steps": 6, "train.stage2_steps": 2,
                "train.batch": 4},
        resume_stage="stage 1",
        resume_params={"train.checkpoint_every": 2},
    )  # fmt: skip


def invert_example_job(folder: Path) -> ExampleJob:
    """A render of a snowman at the shipped demo generator's reference pose, inverted in 3 steps."""
    import torch
    from PIL import Image

    from ...core.cameras import spherical_to_c2w
    from ...teachers.synthetic.families import family
    from ...teachers.synthetic.render import SceneObject

    render = SceneObject(family("snowman").sample(torch.Generator().manual_seed(0))).render(
        spherical_to_c2w(torch.tensor([10.0]), torch.tensor([180.0]), torch.tensor([2.0])), 49.1, 64, 64)
    image = Image.fromarray((torch.cat([render.rgb[0], render.mask[0, ..., None]], -1).numpy() * 255).astype("uint8"), "RGBA")
    return ExampleJob("default", params={"generator": "demo", "steps": 3, "lpips_weight": 0.0}, image=image, camera=Camera(elevation_deg=10.0))
