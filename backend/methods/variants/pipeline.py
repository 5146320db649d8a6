"""The generator tools as methods: jobs, so they get the worker's isolation, cancel, stored results and re-attach."""

from __future__ import annotations

import numpy as np

from protocol.errors import ErrorCode

from ...generators import Latent
from ...generators.tools import made
from ..base import JobContext, JobInputs, JobResult, MethodError
from ..generator_jobs import GeneratorCache, mesh_errors, put_latent
from .config import InterpolateConfig, VariantsConfig





class VariantsMethod:
    """N latents from N seeds → a mesh each; result items ``v<i>.positions`` … and ``v<i>.latent`` (and ``v<i>.condition``
    for a conditioned generator, under the job's prompt) for the latents with a surface, numbered in order (metadata
    ``variants``), and metadata ``empty`` for the seeds without one."""

    def __init__(self) -> None:
        self.generators = GeneratorCache()

    def run(self, inputs: JobInputs, config: VariantsConfig, context: JobContext) -> JobResult:
        reporter = context.reporter
        seeds = config.variant_seeds(inputs.seed)
        reporter.plan([("sample", len(seeds))])
        reporter.progress("sample", 0, len(seeds), "loading the generator")
        generator = self.generators.get(config.generator, context)
        with mesh_errors():
            condition = generator.condition(inputs.prompt)
        result = JobResult(metadata={"generator": config.generator, "quality": config.quality, "truncation": config.truncation,
                                     "variants": [], "empty": []})  # fmt: skip
        for done, seed in enumerate(seeds, start=1):
            with mesh_errors():
                item = made(generator, "", generator.latent(seed, config.truncation, condition), config.quality, {"seed": seed})
            if item.asset is None:  # a surface-less latent costs its variant, not the batch
                result.metadata["empty"].append({"seed": seed, "reason": item.facts["empty"]})
                reporter.log(f"seed {seed} gives no mesh: {item.facts['empty']}")
                reporter.progress("sample", done, len(seeds), f"variant {done} of {len(seeds)}: no surface")
                continue
            index = len(result.metadata["variants"])
            result.add_mesh(item.asset, f"v{index}.", glb=config.quality == "full")
            put_latent(result, f"v{index}.", item.latent)
            result.metadata["variants"].append({"seed": seed, "latent": item.latent.code.tolist(), "faces": len(item.asset.faces)})
            reporter.progress("sample", done, len(seeds), f"variant {done} of {len(seeds)}: {len(item.asset.faces)} faces")
        if not result.metadata["variants"]:
            raise MethodError(f"none of the {len(seeds)} seeds gives a surface ({result.metadata['empty'][0]['reason']}); train the generator longer",
                              ErrorCode.INVALID_PARAMS)  # fmt: skip
        return result


class InterpolateMethod:
    """The mesh a fraction t of the way between two latents: job arrays ``latent_a``, ``latent_b`` (codes) and, for a
    conditioned generator, ``condition_a``, ``condition_b``."""

    def __init__(self) -> None:
        self.generators = GeneratorCache()

    def run(self, inputs: JobInputs, config: InterpolateConfig, context: JobContext) -> JobResult:
        missing = [name for name in ("latent_a", "latent_b") if name not in inputs.arrays]
        if missing:
            raise MethodError(f"interpolate needs the job arrays 'latent_a' and 'latent_b' (missing: {', '.join(missing)})", ErrorCode.INVALID_PARAMS)
        context.reporter.plan([("interpolate", 1)])
        generator = self.generators.get(config.generator, context)
        a, b = (np.asarray(inputs.arrays[name], dtype=np.float32).reshape(-1) for name in ("latent_a", "latent_b"))
        if a.shape != b.shape or a.shape != (generator.latent_dim,):
            raise MethodError(
                f"latents must both have {generator.latent_dim} values for this generator, got {a.size} and {b.size}", ErrorCode.INVALID_PARAMS
            )
        conditions = [inputs.arrays.get(name) for name in ("condition_a", "condition_b")]
        if generator.conditional and any(c is None for c in conditions):
            raise MethodError("this generator is conditioned: interpolate needs the job arrays 'condition_a' and 'condition_b' too", ErrorCode.INVALID_PARAMS)
        ends = [Latent(code, np.asarray(c, np.float32) if generator.conditional else None) for code, c in zip((a, b), conditions)]
        with mesh_errors():
            latent = generator.mix(*ends, config.t)
            asset = generator.asset(latent, config.quality)
        result = JobResult(metadata={"generator": config.generator, "t": config.t, "quality": config.quality, "latent": latent.code.tolist()})
        result.add_mesh(asset, glb=config.quality == "full")
        put_latent(result, "", latent)
        context.reporter.progress("interpolate", 1, 1, f"{len(asset.faces)} faces")
        return result
