"""The generator tools as methods: jobs, so they get the worker's isolation, cancel, stored results and re-attach."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from protocol.errors import ErrorCode

from ...generators import Generator, GeneratorError, load
from ...generators.tools import made
from ..base import JobContext, JobInputs, JobResult, MethodError
from .config import InterpolateConfig, InvertConfig, VariantsConfig

CACHED_GENERATORS = 2
"""Generators kept loaded per worker (scrubbing sends one job per slider move to the same generator)."""


class _GeneratorCache:
    def __init__(self) -> None:
        self._loaded: OrderedDict[str, Generator] = OrderedDict()

    def get(self, spec: str, context: JobContext) -> Generator:
        key = f"{spec}@{context.device}"
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        try:
            generator = load(spec, context.jobs_dir, context.device)
        except GeneratorError as exc:
            raise MethodError(str(exc), ErrorCode.INVALID_PARAMS) from None
        self._loaded[key] = generator
        while len(self._loaded) > CACHED_GENERATORS:
            self._loaded.popitem(last=False)
        return generator


@contextmanager
def _mesh_errors() -> Iterator[None]:
    """A generator's refusal (a latent of the wrong length, an empty surface …) as the job's readable error."""
    try:
        yield
    except (GeneratorError, ValueError) as exc:
        raise MethodError(f"the generator could not make this mesh: {exc}", ErrorCode.INVALID_PARAMS) from None


class VariantsMethod:
    """N latents from N seeds → a mesh each; result items ``v<i>.positions`` … and ``v<i>.latent`` for the latents with a
    surface, numbered in order (metadata ``variants``), and metadata ``empty`` for the seeds without one."""

    def __init__(self) -> None:
        self.generators = _GeneratorCache()

    def run(self, inputs: JobInputs, config: VariantsConfig, context: JobContext) -> JobResult:
        reporter = context.reporter
        seeds = config.variant_seeds(inputs.seed)
        reporter.plan([("sample", len(seeds))])
        reporter.progress("sample", 0, len(seeds), "loading the generator")
        generator = self.generators.get(config.generator, context)
        result = JobResult(metadata={"generator": config.generator, "quality": config.quality, "truncation": config.truncation,
                                     "variants": [], "empty": []})  # fmt: skip
        for done, seed in enumerate(seeds, start=1):
            with _mesh_errors():
                item = made(generator, "", generator.latent(seed, config.truncation), config.quality, {"seed": seed})
            if item.asset is None:  # a surface-less latent costs its variant, not the batch
                result.metadata["empty"].append({"seed": seed, "reason": item.facts["empty"]})
                reporter.log(f"seed {seed} gives no mesh: {item.facts['empty']}")
                reporter.progress("sample", done, len(seeds), f"variant {done} of {len(seeds)}: no surface")
                continue
            index = len(result.metadata["variants"])
            result.add_mesh(item.asset, f"v{index}.", glb=config.quality == "full")
            result.arrays[f"v{index}.latent"] = item.latent
            result.metadata["variants"].append({"seed": seed, "latent": item.latent.tolist(), "faces": len(item.asset.faces)})
            reporter.progress("sample", done, len(seeds), f"variant {done} of {len(seeds)}: {len(item.asset.faces)} faces")
        if not result.metadata["variants"]:
            raise MethodError(f"none of the {len(seeds)} seeds gives a surface ({result.metadata['empty'][0]['reason']}); train the generator longer",
                              ErrorCode.INVALID_PARAMS)  # fmt: skip
        return result


class InterpolateMethod:
    """The mesh a fraction t of the way between two latents (job arrays ``latent_a``, ``latent_b``)."""

    def __init__(self) -> None:
        self.generators = _GeneratorCache()

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
        latent = generator.mix(a, b, config.t)
        with _mesh_errors():
            asset = generator.asset(latent, config.quality)
        result = JobResult(metadata={"generator": config.generator, "t": config.t, "quality": config.quality, "latent": latent.tolist()})
        result.add_mesh(asset, glb=config.quality == "full")
        result.arrays["latent"] = latent
        context.reporter.progress("interpolate", 1, 1, f"{len(asset.faces)} faces")
        return result


class InvertMethod:
    """The input image → the CAD generator's latent that reproduces it (at the job camera's elevation, else at the one the
    generator was distilled from) → that latent's mesh."""

    def __init__(self) -> None:
        self.generators = _GeneratorCache()

    def run(self, inputs: JobInputs, config: InvertConfig, context: JobContext) -> JobResult:
        from ..cad.invert import InversionConfig, invert_image

        if inputs.image is None:
            raise MethodError("invert needs an input image", ErrorCode.INVALID_PARAMS)
        reporter = context.reporter
        reporter.plan([("invert", config.steps), ("export", 1)])
        generator = self.generators.get(config.generator, context)
        elevation = inputs.camera.elevation_deg if inputs.camera is not None else None  # None: the generator's reference elevation
        settings = InversionConfig(space=config.space, steps=config.steps, lr=config.lr, lpips_weight=config.lpips_weight)
        try:
            inversion, asset = invert_image(
                generator, inputs.image, elevation, settings,
                on_step=lambda step, total, loss: reporter.progress("invert", step, total, f"step {step} of {total}: loss {loss:.4f}"),
            )  # fmt: skip
        except (GeneratorError, ValueError) as exc:
            raise MethodError(f"cannot invert with {config.generator!r}: {exc}", ErrorCode.INVALID_PARAMS) from None
        reporter.progress("export", 1, 1, f"{len(asset.faces)} faces")
        used = generator.reference_elevation if elevation is None else elevation
        result = JobResult(metadata={"generator": config.generator, "space": config.space, "elevation_deg": used,
                                     "loss_start": inversion.losses[0], "loss_end": inversion.losses[-1]})  # fmt: skip
        result.add_mesh(asset)
        result.arrays["latent"] = inversion.latent
        return result
