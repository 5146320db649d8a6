"""CAD as a backend method: reference view → pruned multi-view prior → adversarial distillation → a generator folder and a sample.

The job's result holds the sample's mesh (arrays, texture, GLB), the generator's two files
(``generator.json``, ``generator.safetensors`` — the client writes them into ``OUT.generator/``)
and the prior's pruning report; the generator also stays in the job's folder, so the job id
names it for variants, interpolation and inversion.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from protocol.errors import ErrorCode
from protocol.atomic import write_json

from ...core.cameras import spherical_to_c2w
from ...core.frame import Frame
from ...generators import GENERATOR_FILE, EmptySurface
from ...teachers.synthetic.families import Family, family
from ...teachers.synthetic.prior import PriorConfig as SyntheticPriorConfig
from ...teachers.synthetic.prior import SyntheticPrior
from ...teachers.synthetic.similarity import image_similarity
from ...engine.loop import Reporter
from ..base import JobContext, JobInputs, JobResult, MethodError, ResultFile
from ..preprocess import reference_view
from .config import CADConfig
from .generator import IDENTITY, WEIGHTS_FILE, CADGeneratorAsset, calibrate_surface_density, save_generator
from .diffusion_prior import ControlNetRefiner, DiffusionSampler
from .elevation import PROBE_OFFSETS, estimate_elevation
from .prior_cache import REFERENCE_AZIMUTH, SyntheticSampler, load_cache, sample_prior_cache
from .train import CHECKPOINT, STAGES, PriorData, Trainer, total_steps, train

log = logging.getLogger(__name__)

FAMILY_RADIUS = 0.6
"""A folder family is scaled so its members' farthest vertex from their joint centre is this far (inside the 0.7 box)."""
ELEVATION_FILE = "elevation.json"
"""In a job's work folder: the estimated elevation its prior cache was sampled at."""
CALIBRATION_SAMPLES = 8
"""Samples (one random view each) the surface iso-level is calibrated on."""
REFERENCE_OBJECT_FRACTION = 0.6
"""With the synthetic prior, an input image is recentred so the object's larger side is this fraction of the image (as the renders)."""
ZERO123_OBJECT_FRACTION = 0.8
"""With the Zero123 prior, the reference is recentred as Zero-1-to-3 expects (the object's larger side 80 % of the image)."""


def family_source(spec: str) -> tuple[Family | list, Frame]:
    """``(source, frame)`` of a synthetic family: a built-in name, or a folder of GLB files normalised jointly into the box."""
    from ...teachers.synthetic.glb_io import load_folder

    folder = Path(spec).expanduser()
    if folder.is_dir():
        try:
            members = load_folder(folder)
        except Exception as exc:  # noqa: BLE001 - trimesh raises many kinds for a broken file
            raise MethodError(f"cannot load the family folder {folder}: {exc}", ErrorCode.INVALID_PARAMS) from None
        frame = Frame.normalising(np.concatenate([m.positions.double().numpy() for m in members]), 0.0, FAMILY_RADIUS)
        return [replace(m, positions=frame.tensor_to_reconstruction(m.positions)) for m in members], frame
    try:
        return family(spec), IDENTITY
    except ValueError as exc:
        raise MethodError(f"family {spec!r}: {exc}; give a built-in family name, random:<seed> or a folder of GLB files", ErrorCode.INVALID_PARAMS) from None


def reference_image(inputs: JobInputs, prior: SyntheticPrior, elevation: float, seed: int) -> torch.Tensor:
    """(3, S, S) reference in [0, 1] on white: the input image recentred, or a family member at the reference pose."""
    size = prior.config.image_size
    if inputs.image is not None:
        try:
            return reference_view(np.asarray(inputs.image.convert("RGBA")), size, REFERENCE_OBJECT_FRACTION).rgb
        except ValueError as exc:
            raise MethodError(f"cannot use the input image: {exc}", ErrorCode.INVALID_PARAMS) from None
    member = prior.draw_object(prior.source, torch.Generator().manual_seed(seed))
    pose = torch.tensor([[elevation, REFERENCE_AZIMUTH, prior.config.radius]])
    return prior.render(member, pose)[0]


@dataclass
class Distillation:
    """What :func:`distill` leaves: the trained generator and how the prior went."""

    trainer: Trainer
    """G, G_ema, D … after the last step."""
    report: dict
    """The prior's pruning report."""
    frame: Frame
    """The family's frame (meshes are returned in it)."""
    kept: int
    """Prior samples trained on."""


@dataclass
class PriorSource:
    """Where a job's prior samples come from, and the reference they are conditioned on."""

    sampler: object
    """A :class:`~.prior_cache.PoseSampler`."""
    reference: torch.Tensor
    """(3, S, S) the reference view in [0, 1] on white."""
    frame: Frame
    """The frame meshes are returned in."""
    similarity: Callable
    """Image similarity for pose pruning."""
    elevation: dict
    """``{"degrees", "source": "camera" | "estimated" | "default", …}`` of the reference camera, for the report."""


def given_elevation(config: CADConfig, inputs: JobInputs) -> dict:
    """The job camera's elevation, or the configured default."""
    if inputs.camera is not None:
        return {"degrees": float(inputs.camera.elevation_deg), "source": "camera"}
    return {"degrees": config.reference_elevation, "source": "default"}


def synthetic_sampler(config: CADConfig, inputs: JobInputs, reporter: Reporter) -> PriorSource:
    """The synthetic prior: renders of the family, no weights. No view model knows an input image here, so its elevation
    is the job camera's or ``reference_elevation``."""
    source, frame = family_source(config.family)
    g = config.generator
    prior = SyntheticPrior(source, SyntheticPriorConfig(image_size=g.image_resolution, fov_deg=g.fov_deg, radius=g.radius))
    elevation = given_elevation(config, inputs)
    reporter.log("synthetic prior: renders of the family stand in for Zero123 samples; no weights are used")
    return PriorSource(SyntheticSampler(prior), reference_image(inputs, prior, elevation["degrees"], inputs.seed), frame, image_similarity, elevation)


def estimates_elevation(config: CADConfig, inputs: JobInputs) -> bool:
    """Whether the job estimates its reference's elevation (Zero123 prior, no job camera, estimation on)."""
    return config.prior == "zero123" and inputs.camera is None and config.elevation.estimate


def settled_elevation(sampler: DiffusionSampler, config: CADConfig, seed: int, record: Path, reporter: Reporter) -> dict:
    """The estimate in ``record`` from an earlier run of this job (its prior cache was sampled at it), else a new one
    from Zero123's views of the reference, written to ``record``."""
    if record.exists():
        elevation = json.loads(record.read_text())
        reporter.progress("elevation", 1, 1, f"{elevation['degrees']:.1f}° ({elevation['source']}, by the interrupted run)")
        return elevation
    reporter.progress("elevation", 0, 1, f"Zero123 views of the reference at {len(PROBE_OFFSETS)} relative poses")
    g = config.generator
    found = estimate_elevation(
        sampler.reference, lambda offsets: sampler.novel_views(offsets, torch.Generator().manual_seed(seed)),
        g.fov_deg, g.radius, g.box, config.elevation, config.sampling.pruning.tolerance,
    )  # fmt: skip
    scores = {"coherence": round(found.coherence, 4), "contrast": round(found.contrast, 4)}
    if found.trusted(config.elevation):
        elevation = {"degrees": found.elevation, "source": "estimated", **scores}
    else:
        elevation = {"degrees": config.reference_elevation, "source": "default", "untrusted_estimate": found.elevation, **scores}
        reporter.log(f"the elevation estimate ({found.elevation:.1f}°) is not trusted (silhouette coherence {found.coherence:.3f}, "
                  f"contrast {found.contrast:.3f}): using reference_elevation {config.reference_elevation:.1f}°")
    record.parent.mkdir(parents=True, exist_ok=True)
    write_json(record, elevation, indent=2)
    reporter.progress("elevation", 1, 1, f"{elevation['degrees']:.1f}° ({elevation['source']})")
    return elevation


def diffusion_sampler(config: CADConfig, inputs: JobInputs, device: str, work: Path, reporter: Reporter) -> PriorSource:
    """The real prior: Zero123 (+ a refiner) from the registry, CLIP for pruning; the reference's elevation from the job
    camera, else estimated from Zero123's views (kept in ``work`` for a resumed run), else ``reference_elevation``."""
    from ...teachers import clip, controlnet_depth, deepfloyd_if, depth, zero123

    if inputs.image is None:
        raise MethodError("CAD with the Zero123 prior needs an input image (or prior 'synthetic' with a family)", ErrorCode.INVALID_PARAMS)
    g = config.generator
    try:
        reference = reference_view(np.asarray(inputs.image.convert("RGBA")), g.image_resolution, ZERO123_OBJECT_FRACTION).rgb
    except ValueError as exc:
        raise MethodError(f"cannot use the input image: {exc}", ErrorCode.INVALID_PARAMS) from None
    elevation = given_elevation(config, inputs)
    reporter.log("loading Zero-1-to-3, CLIP" + {"deepfloyd_if": " and DeepFloyd IF", "controlnet_depth": ", ControlNet-depth and the depth model"}.get(config.refiner, ""))
    refiner, memory = None, config.memory.loader_options()
    if config.refiner == "deepfloyd_if":
        refiner = deepfloyd_if.load(device=device, **memory)
    elif config.refiner == "controlnet_depth":
        refiner = ControlNetRefiner(controlnet_depth.load(device=device, **memory), depth.load(device=device), config.controlnet_strength)
    sampler = DiffusionSampler(
        zero123.load(device=device, **memory), refiner, reference, elevation["degrees"], inputs.prompt, inputs.negative_prompt, g.image_resolution,
        g.radius, config.prior_steps, config.zero123_guidance,
    )  # fmt: skip
    if estimates_elevation(config, inputs):
        elevation = settled_elevation(sampler, config, inputs.seed, work / ELEVATION_FILE, reporter)
        sampler = replace(sampler, elevation=elevation["degrees"])
    reporter.log(f"reference elevation {elevation['degrees']:.1f}° ({elevation['source']})")
    return PriorSource(sampler, reference, IDENTITY, clip.load(device=device).image_similarity, elevation)


def distill(config: CADConfig, inputs: JobInputs, work: Path, device: str, reporter: Reporter) -> Distillation:
    """Sample (or resume) the pruned prior in ``work/prior``, then train on the engine (or resume from its checkpoint),
    reporting through ``reporter``.

    Under ``torch.distributed`` rank 0 loads the prior's models and samples it while the others wait; every rank
    trains on it."""
    distributed = dist.is_initialized()
    report = None
    if distributed and dist.get_rank() > 0:
        frame = family_source(config.family)[1] if config.prior == "synthetic" else IDENTITY
    else:
        source = synthetic_sampler(config, inputs, reporter) if config.prior == "synthetic" else diffusion_sampler(config, inputs, device, work, reporter)
        frame = source.frame
        report = sample_prior_cache(
            work / "prior", source.reference, source.sampler, config.sampling, seed=inputs.seed, similarity=source.similarity,
            progress=lambda kept, total: reporter.progress("prior", kept, total, f"{kept} of {total} samples kept"),
        )  # fmt: skip
        report = {**report, "reference_elevation": source.elevation}
    if distributed:
        dist.barrier()
    images, poses = load_cache(work / "prior")
    if len(images) < 2:
        tried = (report or json.loads((work / "prior" / "report.json").read_text()))["poses_tried"]
        raise MethodError(f"pose pruning kept {len(images)} prior samples of {tried} poses tried: too few to train on "
                          "(loosen the pruning thresholds or raise sampling.max_tries)")  # fmt: skip
    if len(images) < config.sampling.samples:
        reporter.log(f"prior: pruning kept {len(images)} samples of the {config.sampling.samples} wanted (sampling.max_tries reached)")
    reporter.log(f"prior: {len(images)} samples kept")
    trainer = Trainer(config, PriorData(images, poses), device, inputs.seed)
    train(trainer, work / CHECKPOINT, reporter)
    return Distillation(trainer, report or json.loads((work / "prior" / "report.json").read_text()), frame, len(images))


def export_generator(run: Distillation, config: CADConfig, folder: Path, device: str) -> CADGeneratorAsset:
    """Save the EMA generator to ``folder`` (with its surface iso-level calibrated on its renders) and return it ready to sample."""
    model, upsampled = run.trainer.G_ema, config.train.stage2_steps > 0
    random = torch.Generator().manual_seed(0)
    count = CALIBRATION_SAMPLES
    z = torch.randn(count, config.generator.z_dim, generator=random).to(run.trainer.device)
    c2w = spherical_to_c2w(torch.rand(count, generator=random) * 40 - 10, torch.rand(count, generator=random) * 360 - 180, torch.full((count,), config.generator.radius))
    level = calibrate_surface_density(model, model.ws(z, config.truncation), c2w.to(run.trainer.device), upsampled)
    export = {"preview_resolution": config.preview_resolution, "full_resolution": config.export_resolution, "texture_size": config.texture_size,
              "surface_density": level}  # fmt: skip
    about = {"family": config.family, "prior_report": run.report, "steps": total_steps(config), "kept_samples": run.kept}
    elevation = float(run.report.get("reference_elevation", {}).get("degrees", config.reference_elevation))
    save_generator(folder, run.trainer.G_ema, upsampled, export, run.frame, about, elevation)
    return CADGeneratorAsset(model, upsampled, export, device, run.frame, elevation)


class CADMethod:
    def run(self, inputs: JobInputs, config: CADConfig, context: JobContext) -> JobResult:
        reporter = context.reporter
        estimate = [("elevation", 1)] if estimates_elevation(config, inputs) else []
        reporter.plan([*estimate, ("prior", config.sampling.samples), *[(s, n) for s, n in zip(STAGES, (config.train.stage1_steps, config.train.stage2_steps)) if n], ("export", 1)])
        run = distill(config, inputs, context.work_dir, context.device, reporter)
        reporter.progress("export", 0, 1, "saving the generator and meshing a sample")
        folder = context.generator_dir
        generator = export_generator(run, config, folder, context.device)
        latent = generator.latent(inputs.seed, config.truncation)
        result = JobResult(metadata={"prior": run.report, "kept_samples": run.kept, "latent": latent.code.tolist(), "truncation": config.truncation})
        try:
            asset = generator.asset(latent, "full")
        except EmptySurface as exc:  # the generator is the product: keep it even when this sample has no surface yet
            reporter.log(f"the sample of seed {inputs.seed} has no mesh ({exc}); the generator is saved — train longer for surfaces")
            result.metadata["faces"] = 0
        else:
            result.add_mesh(asset)
            result.metadata["faces"] = len(asset.faces)
        reporter.progress("export", 1, 1, f"{result.metadata['faces']} faces")
        result.files[GENERATOR_FILE] = ResultFile((folder / GENERATOR_FILE).read_bytes(), "application/json")
        result.files[WEIGHTS_FILE] = ResultFile((folder / WEIGHTS_FILE).read_bytes(), "application/octet-stream")
        return result
