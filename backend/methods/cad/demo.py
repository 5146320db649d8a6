"""The demo generator that ships with the project: a CAD generator distilled from the synthetic ``snowman`` family.

It was made by the project's own training path on CPU (the ``tiny`` preset, longer; the exact
command is in ``demo_generator/generator.json`` under ``about.command``), so that variants,
interpolation and inversion work on a fresh machine with no weights and no training. It is a
small 3D GAN (a 32-dimensional w, 32² triplanes) — a stand-in that exercises the whole path, not
a model of real objects.
"""

from __future__ import annotations

from pathlib import Path

DEMO_GENERATOR = Path(__file__).with_name("demo_generator")
"""The shipped generator folder (``generator.json`` + ``generator.safetensors``)."""
