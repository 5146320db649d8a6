"""The generator tools' weight-free example jobs, on the shipped demo generator."""

from __future__ import annotations

from pathlib import Path

from ..spec import ExampleJob


def variants_example_job(folder: Path) -> ExampleJob:
    """Two preview-quality variants of the shipped demo generator."""
    return ExampleJob("preview", params={"generator": "demo", "count": 2})


def interpolate_example_job(folder: Path) -> ExampleJob:
    """The preview mesh halfway between the shipped demo generator's latents of seeds 0 and 1."""
    from ...generators import load
    from .. import generator_catalog

    generator = load("demo", generator_catalog())
    a, b = generator.latent(0, 0.7), generator.latent(1, 0.7)
    return ExampleJob("default", params={"generator": "demo"}, arrays={"latent_a": a.code, "latent_b": b.code})
