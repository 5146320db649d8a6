"""The generator tools as methods: jobs, so they get the worker's isolation, cancel, stored results and re-attach."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from protocol.errors import ErrorCode

from ...core.glb import MeshAsset
from ...generators import Generator, GeneratorError, load
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


def _asset(generator: Generator, latent: np.ndarray, quality: str) -> MeshAsset:
    try:
        return generator.asset(latent, quality)
    except (GeneratorError, ValueError) as exc:  # e.g. a latent of the wrong length, an empty surface
        raise MethodError(f"the generator could not make this mesh: {exc}", ErrorCode.INVALID_PARAMS) from None


class VariantsMethod:
    """N latents from N seeds → N meshes; result items ``v<i>.positions`` … and ``v<i>.latent``."""

    def __init__(self) -> None:
        self.generators = _GeneratorCache()

    def run(self, inputs: JobInputs, config: VariantsConfig, context: JobContext) -> JobResult:
        reporter = context.reporter
        seeds = config.variant_seeds(inputs.seed)
        reporter.plan([("sample", len(seeds))])
        reporter.progress("sample", 0, len(seeds), "loading the generator")
        generator = self.generators.get(config.generator, context)
        result = JobResult(metadata={"generator": config.generator, "quality": config.quality, "truncation": config.truncation, "variants": []})
        for index, seed in enumerate(seeds):
            latent = generator.latent(seed, config.truncation)
            asset = _asset(generator, latent, config.quality)
            result.add_mesh(asset, f"v{index}.", glb=config.quality == "full")
            result.arrays[f"v{index}.latent"] = latent
            result.metadata["variants"].append({"seed": seed, "latent": latent.tolist(), "faces": len(asset.faces)})
            reporter.progress("sample", index + 1, len(seeds), f"variant {index + 1} of {len(seeds)}: {len(asset.faces)} faces")
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
        asset = _asset(generator, latent, config.quality)
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
