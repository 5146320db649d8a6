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

from ...core.cameras import spherical_to_c2w
from ...core.frame import Frame
from ...generators import GENERATOR_FILE, JOB_GENERATOR_DIR, GeneratorError
from ...teachers.synthetic.families import Family, family
from ...teachers.synthetic.prior import PriorConfig as SyntheticPriorConfig
from ...teachers.synthetic.prior import SyntheticPrior
from ..base import JobContext, JobInputs, JobResult, MethodError, ResultFile
from ..preprocess import reference_view
from .config import CADConfig
from .generator import IDENTITY, WEIGHTS_FILE, CADGeneratorAsset, calibrate_surface_density, save_generator
from .diffusion_prior import ControlNetRefiner, DiffusionSampler
from .prior_cache import REFERENCE_AZIMUTH, SyntheticSampler, load_cache, sample_prior_cache
from .pruning import image_similarity
from .train import STAGES, PriorData, Trainer, total_steps, train

log = logging.getLogger(__name__)

FAMILY_RADIUS = 0.6
"""A folder family is scaled so its members' farthest vertex from their joint centre is this far (inside the 0.7 box)."""
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
        raise MethodError(f"family {spec!r}: {exc}; give a built-in family name or a folder of GLB files", ErrorCode.INVALID_PARAMS) from None


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
class Hooks:
    """How :func:`distill` reports; each may raise to cancel (checkpoints stay valid)."""

    progress: Callable[[str, int, int, str], None]
    """``(stage, done, total, message)``."""
    preview: Callable[[torch.Tensor], None]
    """A grid (H, W, 3) in [0, 1] of samples from fixed latents."""
    log: Callable[[str], None]
    """A line for the artist."""


def synthetic_sampler(config: CADConfig, inputs: JobInputs, hooks: Hooks) -> tuple[SyntheticSampler, torch.Tensor, Frame, object]:
    """``(sampler, reference (3, S, S), frame, similarity)`` of the synthetic prior: renders of the family, no weights."""
    source, frame = family_source(config.family)
    g = config.generator
    prior = SyntheticPrior(source, SyntheticPriorConfig(image_size=g.image_resolution, fov_deg=g.fov_deg, radius=g.radius))
    elevation = inputs.camera.elevation_deg if inputs.camera is not None else config.reference_elevation
    hooks.log("synthetic prior: renders of the family stand in for Zero123 samples; no weights are used")
    return SyntheticSampler(prior), reference_image(inputs, prior, elevation, inputs.seed), frame, image_similarity


def diffusion_sampler(config: CADConfig, inputs: JobInputs, device: str, hooks: Hooks) -> tuple[DiffusionSampler, torch.Tensor, Frame, object]:
    """``(sampler, reference, frame, similarity)`` of the real prior: Zero123 (+ a refiner) from the registry, CLIP for pruning."""
    from ...teachers import clip, controlnet_depth, deepfloyd_if, depth, zero123

    if inputs.image is None:
        raise MethodError("CAD with the Zero123 prior needs an input image (or prior 'synthetic' with a family)", ErrorCode.INVALID_PARAMS)
    g = config.generator
    try:
        reference = reference_view(np.asarray(inputs.image.convert("RGBA")), g.image_resolution, ZERO123_OBJECT_FRACTION).rgb
    except ValueError as exc:
        raise MethodError(f"cannot use the input image: {exc}", ErrorCode.INVALID_PARAMS) from None
    elevation = inputs.camera.elevation_deg if inputs.camera is not None else config.reference_elevation
    hooks.log("loading Zero-1-to-3, CLIP" + {"deepfloyd_if": " and DeepFloyd IF", "controlnet_depth": ", ControlNet-depth and the depth model"}.get(config.refiner, ""))
    refiner = None
    if config.refiner == "deepfloyd_if":
        refiner = deepfloyd_if.load(device=device)
    elif config.refiner == "controlnet_depth":
        refiner = ControlNetRefiner(controlnet_depth.load(device=device), depth.load(device=device), config.controlnet_strength)
    sampler = DiffusionSampler(
        zero123.load(device=device), refiner, reference, elevation, inputs.prompt, inputs.negative_prompt, g.image_resolution,
        g.radius, config.prior_steps, config.zero123_guidance,
    )  # fmt: skip
    return sampler, reference, IDENTITY, clip.load(device=device).image_similarity


def distill(config: CADConfig, inputs: JobInputs, work: Path, device: str, hooks: Hooks) -> Distillation:
    """Sample (or resume) the pruned prior in ``work/prior``, then train (or resume from ``work/checkpoint.pt``).

    Under ``torch.distributed`` rank 0 loads the prior's models and samples it while the others wait; every rank
    trains on it."""
    distributed = dist.is_initialized()
    report = None
    if distributed and dist.get_rank() > 0:
        frame = family_source(config.family)[1] if config.prior == "synthetic" else IDENTITY
    else:
        if config.prior == "synthetic":
            sampler, reference, frame, similarity = synthetic_sampler(config, inputs, hooks)
        else:
            sampler, reference, frame, similarity = diffusion_sampler(config, inputs, device, hooks)
        report = sample_prior_cache(
            work / "prior", reference, sampler, config.sampling, seed=inputs.seed, similarity=similarity,
            progress=lambda done, total: hooks.progress("prior", done, total, f"pose {done} of {total}"),
        )  # fmt: skip
    if distributed:
        dist.barrier()
    images, poses = load_cache(work / "prior")
    if len(images) < 2:
        raise MethodError(f"pose pruning kept {len(images)} of {config.sampling.poses} prior samples: too few to train on "
                          "(lower the pruning thresholds or sample more poses)")  # fmt: skip
    hooks.log(f"prior: {len(images)} samples kept of {config.sampling.poses} poses")
    trainer = Trainer(config, PriorData(images, poses), device, inputs.seed)
    stage_steps = (config.train.stage1_steps, config.train.stage2_steps)

    def on_step(done: int, total: int, losses: dict[str, float]) -> None:
        second = done > stage_steps[0]
        shown = ", ".join(f"{k} {v:.3f}" for k, v in losses.items())
        hooks.progress(STAGES[second], done - stage_steps[0] * second, stage_steps[second], f"step {done} of {total}: {shown}")

    train(trainer, work / "checkpoint.pt", on_step, hooks.preview)
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
    save_generator(folder, run.trainer.G_ema, upsampled, export, run.frame, about)
    return CADGeneratorAsset(model, upsampled, export, device, run.frame)


class CADMethod:
    def run(self, inputs: JobInputs, config: CADConfig, context: JobContext) -> JobResult:
        reporter = context.reporter
        reporter.plan([("prior", config.sampling.poses), *[(s, n) for s, n in zip(STAGES, (config.train.stage1_steps, config.train.stage2_steps)) if n], ("export", 1)])
        hooks = Hooks(progress=reporter.progress, preview=lambda grid: reporter.preview(grid.numpy(), force=True), log=reporter.log)
        run = distill(config, inputs, context.work_dir, context.device, hooks)
        reporter.progress("export", 0, 1, "saving the generator and meshing a sample")
        folder = context.jobs_dir / context.job_id / JOB_GENERATOR_DIR
        generator = export_generator(run, config, folder, context.device)
        latent = generator.latent(inputs.seed, config.truncation)
        result = JobResult(metadata={"prior": run.report, "kept_samples": run.kept, "latent": latent.tolist(), "truncation": config.truncation})
        try:
            asset = generator.asset(latent, "full")
        except GeneratorError as exc:  # the generator is the product: keep it even when this sample has no surface yet
            reporter.log(f"the sample of seed {inputs.seed} has no mesh ({exc}); the generator is saved — train longer for surfaces")
            result.metadata["faces"] = 0
        else:
            result.add_mesh(asset)
            result.metadata["faces"] = len(asset.faces)
        reporter.progress("export", 1, 1, f"{result.metadata['faces']} faces")
        result.files[GENERATOR_FILE] = ResultFile((folder / GENERATOR_FILE).read_bytes(), "application/json")
        result.files[WEIGHTS_FILE] = ResultFile((folder / WEIGHTS_FILE).read_bytes(), "application/octet-stream")
        return result
