"""PRD's typed config with the reference's defaults, and its presets (no torch: the registry imports this).

Numbers from PRD (``../shared/papers/prd-slides.txt``) and its public reference code (``../shared/prd-facts.md``):
PETA adapters of rank 16 on Stable Diffusion 2.1-base, six 32² latent planes decoded to 64 × 256² feature planes,
four DDIM steps at 999, 749, 499, 249, meshes by differentiable marching cubes at 128³ (160³ in the demo), training with
Adan at 2e-4, 4 views per prompt, ASD guidance from SD 2.1 (cfg 7.5) and MVDream (cfg 20 → 10), t_min falling 0.5 → 0.02
over 20k steps. Where this implementation departs from the reference the field says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.schema import Record, param

TEACHERS = ("stable_diffusion", "mvdream", "synthetic")
"""Guidance teachers a run may combine: real ones through the model registry, or the synthetic text world."""
BASES = ("stable_diffusion", "tiny")
"""Where the frozen base models come from when no folder is named: the registry's SD 2.1-base, or tiny random weights."""


@dataclass(frozen=True)
class StudentConfig(Record):
    """The student: PETA on a Stable Diffusion UNet and VAE decoder, then triplane MLPs."""

    base: str = param("stable_diffusion", doc="Frozen base models (UNet, VAE decoder, text encoder, tokenizer, scheduler): a model-registry "
                      "role ('stable_diffusion': SD 2.1-base), 'tiny' (random-weight tiny models of the same classes, built from "
                      "``tiny_base``; tests and the CPU demo), or a folder in the diffusers pipeline layout.", max_len=4096)
    rank: int = param(16, doc="Rank of every LoRA and LoCon adapter (PETA: 16).", ge=1, le=512)
    plane_latent: int = param(32, doc="Side of each plane's latent (PRD: 32, decoded to 256² by SD's VAE).", ge=2, le=128)
    feature_channels: int = param(32, doc="Feature channels of each geometry and each texture plane (PRD: 32 + 32 = the new "
                                  "conv_out's 64 outputs).", ge=1, le=256)
    mlp_hidden: int = param(64, doc="Hidden width of the SDF, deformation and colour MLPs (PRD: 64, two hidden layers, no biases).", ge=4, le=1024)
    sphere_radius: float = param(0.5, doc="The SDF's sphere bias |p| − radius (PRD: 0.5), so an untrained student starts as a ball.", gt=0.0, le=1.0)
    box: float = param(1.0, doc="Half side of the box the triplanes span, [−box, box]³ (PRD: 1).", gt=0.0, le=10.0)
    tiny_width: int = param(32, doc="With base 'tiny': channels of the tiny UNet's first level (doubled at the second) and of the tiny VAE "
                            "decoder.", ge=8, le=256)
    tiny_pretrain_steps: int = param(2000, doc="With base 'tiny': steps of ε-prediction pretraining that make the random tiny UNet a "
                                     "denoiser, as the pretrained SD that PRD adapts is (:mod:`backend.methods.prd.tiny_base`). With 600 or "
                                     "fewer the student's x̂₀ barely depends on the prompt and training cannot teach it the words (README, "
                                     "PRD); 2,000 take 213 s on 2 CPU cores at width 16 (the tests take 20: they check the plumbing).",
                                     ge=0, le=100_000)
    tiny_decoder_levels: int = param(3, doc="With base 'tiny': resolution levels of the tiny VAE decoder (planes are 2^(levels − 1) "
                                     "times the latent side; SD's has 4: × 8).", ge=1, le=4)


@dataclass(frozen=True)
class InferenceConfig(Record):
    """Prompt → mesh: few-step DDIM over the six planes, the last x̂₀ decoded, marching cubes."""

    timesteps: tuple[int, ...] = param((999, 749, 499, 249), doc="DDIM time-steps, one student call each (PRD: 4 steps at 999, 749, "
                                       "499, 249 — SD 2.1's scheduler with leading spacing and steps_offset 1); only the last x̂₀ is decoded.",
                                       ge=0, le=999)
    mesh_resolution: int = param(128, doc="Marching-cubes grid per axis over the box at full quality (PRD: 128 in training and "
                                 "evaluation, 160 in its demo).", ge=16, le=512)
    preview_resolution: int = param(64, doc="Marching-cubes grid at preview quality (vertex colours; scrubbing).", ge=16, le=512)
    texture_size: int = param(1024, doc="Texture side of the full-quality GLB (the reference exports vertex colours only).", ge=64, le=4096)
    target_faces: int = param(40_000, doc="Full-quality meshes are decimated to this many faces when above it.", ge=100, le=2_000_000)


@dataclass(frozen=True)
class RenderConfig(Record):
    """PRD's dual rendering (unlit albedo): NeuS volume rendering and the rasterised marching-cubes mesh."""

    raster_resolution: int = param(512, doc="Side of the mesh renders (PRD: 512², the teachers' native size).", ge=16, le=2048)
    mesh_grid: int = param(128, doc="Marching-cubes grid of the training meshes (PRD: DiffMC at 128³).", ge=8, le=512)
    geometry_gradient: float = param(0.001, doc="Scale of the mesh path's gradient into the SDF and deformation (PRD: 0.001, so the "
                                     "volume path leads the geometry).", ge=0.0, le=1.0)
    volume_resolution: int = param(128, doc="Side of the volume renders. Departure: the reference covers its 128² ray grid with a "
                                   "42² global render upsampled plus a random 40² full-resolution patch to save memory; this renders the "
                                   "whole grid.", ge=8, le=1024)
    samples: int = param(64, doc="Stratified samples per ray (PRD: 64).", ge=4, le=1024)
    importance_samples: int = param(128, doc="Importance samples per ray where the coarse pass found the surface (PRD: 128).", ge=0, le=1024)
    inv_s: float = param(100.0, doc="NeuS's fixed inverse standard deviation s (PRD: exp(10 × 0.4605) = 100).", gt=0.0, le=10_000.0)
    background: float = param(1.0, doc="Background grey level of previews (and of training renders without random_background).", ge=0.0, le=1.0)
    random_background: bool = param(True, doc="Each training view is rendered over its own random grey, which the synthetic teacher's "
                                    "x̂₀ shares. Departure: the reference learns a text-conditioned hash-grid environment map; with a fixed "
                                    "background an unlit object can paint its excess volume in the background's colour instead of removing it.")
    paths: tuple[str, ...] = param(("volume", "mesh"), doc="Which renders the teachers see (PRD: both).", choices=("volume", "mesh"))
    preview_resolution: int = param(256, doc="Side of each progress preview's volume render, whatever volume_resolution is; the 4 "
                                    "views are shown at 256² each (a smaller render enlarged). The CPU demo-train takes 128: there "
                                    "the four renders cost ~2 % of the run at 128², over 10 % at 256².", ge=16, le=512)


@dataclass(frozen=True)
class TrainConfig(Record):
    """Progressive rendering distillation (PRD's Sec. 3): per iteration, the student's 4 steps, each rendered and guided."""

    teachers: tuple[str, ...] = param(("mvdream", "stable_diffusion"), doc="Guidance teachers (PRD: MVDream, RichDreamer and SD 2.1, "
                                      "weight 1 each; RichDreamer is not implemented here) or 'synthetic' (the text world's scenes, no weights).",
                                      choices=TEACHERS)
    prompts: str = param("grammar", doc="Prompt corpus: a text file with one prompt per line, 'grammar' (the synthetic text world's "
                         "training prompts, singles and stacks, :mod:`backend.methods.prd.world`) or 'grammar-singles' (its training "
                         "singles only, \"a <colour> <shape>\": the CPU demo's).", max_len=4096)
    steps: int = param(15_000, doc="Optimiser steps (PRD: 15k on 8 GPUs).", ge=1, le=1_000_000)
    prompts_per_step: int = param(2, doc="Prompts per step and process (PRD: 2 per GPU).", ge=1, le=64)
    views: int = param(4, doc="Views rendered per prompt (PRD: 4, azimuths stratified over 360° with a random offset).", ge=1, le=16)
    lr: float = param(2e-4, doc="Adan learning rate (PRD: 2e-4).", gt=0.0, le=1.0)
    betas: tuple[float, float, float] = param((0.98, 0.92, 0.99), doc="Adan's betas (PRD's).", ge=0.0, lt=1.0)
    eps: float = param(1e-15, doc="Adan's epsilon (PRD's).", gt=0.0, le=1.0)
    t_max: float = param(0.98, doc="Largest teacher time-step fraction (PRD: 0.98).", gt=0.0, le=1.0)
    t_min_start: float = param(0.5, doc="Smallest teacher time-step fraction at step 0 (PRD: 0.5)...", ge=0.0, le=1.0)
    t_min_end: float = param(0.02, doc="...falling linearly to this (PRD: 0.02)...", ge=0.0, le=1.0)
    anneal_steps: int = param(20_000, doc="...over this many steps; also the span of the cfg, eikonal and volume-colour schedules (PRD: 20k).", ge=1)
    mvdream_cfg: tuple[float, float] = param((20.0, 10.0), doc="MVDream's cfg at step 0 and after anneal_steps (PRD: 20 → 10).", ge=1.0, le=200.0)
    sd_cfg: float = param(7.5, doc="Stable Diffusion's cfg (PRD: 7.5, empty negative prompt).", ge=1.0, le=200.0)
    asd_epsilon: float = param(0.1, doc="The DMD-style normaliser's ε: grad = (x̂₀_second − x̂₀_cfg) / (mean|z − x̂₀_cfg| + ε) (PRD: 0.1).", gt=0.0, le=10.0)
    eikonal_weight: float = param(1.0, doc="Eikonal weight of the volume path at step 0, falling linearly to 0 over anneal_steps (PRD: 1 → 0).", ge=0.0, le=100.0)
    eikonal_points: int = param(4096, doc="Random box points per object and step where the eikonal term is evaluated (by central differences).", ge=1, le=1_000_000)
    volume_rgb_gradient_end: float = param(0.01, doc="The volume colour's gradient scale after anneal_steps, from 1 (PRD: 1 → 0.01).", ge=0.0, le=1.0)
    elevation_range: tuple[float, float] = param((0.0, 30.0), doc="Camera elevation° (PRD: U[0°, 30°]).", ge=-89.0, le=89.0)
    distance_range: tuple[float, float] = param((0.8, 1.0), doc="Relative camera distance, divided by tan(fovy / 2) (PRD: U[0.8, 1.0] → 1.39–1.73).", gt=0.0, le=10.0)
    fov_deg: float = param(60.0, doc="Vertical field of view (PRD: 60°).", gt=1.0, lt=170.0)
    checkpoint_every: int = param(500, doc="Checkpoint every this many steps (and after the last).", ge=0)
    preview_every: int = param(100, doc="Preview every this many steps (and after the last).", ge=0)

    def required_models(self) -> tuple[str, ...]:
        return tuple(t for t in self.teachers if t != "synthetic")


@dataclass(frozen=True)
class PRDConfig(Record):
    """A PRD job: a prompt (and a seed) in, a textured mesh out."""

    student: StudentConfig = param(factory=StudentConfig, doc="The adapted Stable Diffusion and its triplane decoder.")
    inference: InferenceConfig = param(factory=InferenceConfig, doc="Sampling and meshing.")
    weights: str = param("", doc="The trained adapters: a PRD generator folder (generator.json + weights: its own student config "
                         "and base are used), a student.safetensors or the published triplane_turbo_sd_v1.pth for 'student', or '' for "
                         "the registry's 'prd_student' role.", max_len=4096)
    generator: str = param("", doc="A PRD generator spec to sample instead of building one from 'student' and 'weights': a PRD "
                           "generator folder, or the id of an earlier prd job.", max_len=4096)
    render: RenderConfig = param(factory=RenderConfig, doc="Training renders.")
    train: TrainConfig = param(factory=TrainConfig, doc="Distillation (``distill3d train --method prd``); a generate job does not train.")

    def required_models(self) -> tuple[str, ...]:
        """Model-registry roles a job needs on disk: none for a named generator, weights given as a generator folder (it names
        its own base) or a tiny base; SD 2.1-base otherwise (and the published adapters when no weights are named)."""
        from pathlib import Path

        folder_weights = bool(self.weights) and (Path(self.weights).expanduser() / "generator.json").is_file()
        if self.generator or folder_weights or self.student.base != "stable_diffusion":
            return ()
        return ("stable_diffusion",) + (() if self.weights else ("prd_student",))


DEMO_STUDENT = {
    "student.base": "tiny", "student.plane_latent": 8, "student.rank": 4, "student.tiny_width": 16, "student.tiny_decoder_levels": 2,
    "student.tiny_pretrain_steps": 2000,
}
"""The shipped demo student's size: six 8² latent planes decoded to 16² feature planes, a tiny UNet of widths 16/32 pretrained
2,000 steps as a denoiser (with 600 or fewer its x̂₀ barely depends on the prompt: README, PRD), rank-4 adapters."""

PRESETS = {
    "paper": {},
    "demo": {"generator": "prd-demo"},
}
"""``paper``: the reference's numbers (SD 2.1-base and the published adapters from the model registry). ``demo``: the tiny
student that ships with the project (``prd-demo``, trained on CPU on the synthetic text world's single-object prompts; no
weights needed)."""

TRAIN_PRESETS = {
    "demo-train": {
        **DEMO_STUDENT,
        "train.teachers": ("synthetic",), "train.prompts": "grammar-singles", "train.steps": 1000, "train.prompts_per_step": 2,
        "train.views": 4, "train.lr": 3e-3, "train.anneal_steps": 400, "train.eikonal_points": 1024,
        "train.checkpoint_every": 100, "train.preview_every": 100,
        "render.paths": ("volume",), "render.volume_resolution": 24, "render.samples": 32, "render.importance_samples": 0,
        "render.inv_s": 20.0, "render.preview_resolution": 128,
    },
}
"""Presets of ``distill3d train --method prd`` only. ``demo-train``: how the shipped demo student was made, ``distill3d train
--method prd --preset demo-train --seed 0 --out DIR`` (CPU: volume renders only at 24², 32 samples, s = 20, lr 3e-3,
schedules annealed over 400 steps instead of 20k — departures sized for a CPU run of some thousand steps)."""
