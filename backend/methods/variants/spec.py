"""The generator tools' method specs (read by the registry; import no torch): variants and interpolation of any generator."""

from __future__ import annotations

from ..spec import MethodSpec
from .config import InterpolateConfig, VariantsConfig

SPECS = (
    MethodSpec(
        name="variants",
        description="Sample N variants of a 3D generator (a distilled CAD generator, or 'demo'): one mesh per seed, tagged with its latent; "
        "full quality (UV-textured) by default, preset 'preview' for coarse, vertex-coloured, untextured meshes.",
        config_class=VariantsConfig,
        factory="backend.methods.variants.pipeline:VariantsMethod",
        presets={"default": {}, "preview": {"quality": "preview"}},
        role="generator",
        example="backend.methods.variants.example:variants_example_job",
    ),
    MethodSpec(
        name="interpolate",
        description="The mesh between two latents of a 3D generator: preview quality (coarse, vertex-coloured, untextured) by default, "
        "for scrubbing; preset 'full' for a UV-textured mesh to keep.",
        config_class=InterpolateConfig,
        factory="backend.methods.variants.pipeline:InterpolateMethod",
        presets={"default": {}, "full": {"quality": "full"}},
        role="generator",
        transient_when={"quality": "preview"},
        example="backend.methods.variants.example:interpolate_example_job",
    ),
)
