"""Configs of the generator tools (no torch: the registry imports these to list methods)."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.schema import Record, param

GENERATOR_DOC = ("The generator: 'demo' (the shipped CAD demo generator), 'demo:<family>' (a synthetic family driven by a latent), "
                 "a folder with generator.json, or the id of a finished CAD job.")
QUALITY_DOC = "'preview': coarse vertex-coloured mesh, fast enough to scrub; 'full': UV-textured mesh and GLB."


@dataclass(frozen=True)
class VariantsConfig(Record):
    generator: str = param("demo", doc=GENERATOR_DOC, max_len=1024)
    count: int = param(4, doc="How many variants; their seeds are the job's seed, seed + 1, … unless 'seeds' is given.", ge=1, le=64)
    seeds: tuple[int, ...] = param((), doc="Explicit seeds, one per variant (overrides 'count').", ge=0, le=2**32 - 1, max_len=64)
    truncation: float = param(0.7, doc="Latent truncation ψ: 1 samples the whole latent space, smaller values stay nearer the mean (EG3D's ψ = 0.7).", ge=0.0, le=1.0)
    quality: str = param("full", doc=QUALITY_DOC, choices=("preview", "full"))

    def variant_seeds(self, job_seed: int) -> tuple[int, ...]:
        """The seed of each variant."""
        return self.seeds or tuple((job_seed + i) % 2**32 for i in range(self.count))


@dataclass(frozen=True)
class InterpolateConfig(Record):
    generator: str = param("demo", doc=GENERATOR_DOC, max_len=1024)
    t: float = param(0.5, doc="Where between the job's arrays 'latent_a' (t = 0) and 'latent_b' (t = 1).", ge=0.0, le=1.0)
    quality: str = param("preview", doc=QUALITY_DOC, choices=("preview", "full"))
