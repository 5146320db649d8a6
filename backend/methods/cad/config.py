"""CAD's typed config with the paper's defaults, and its presets (no torch: the registry imports this).

Numbers from the paper and its supplement (``../shared/papers/cad-paper.txt`` Sec. 3–4,
``cad-supplement.txt`` Sec. C): an EG3D generator without pose conditioning whose triplanes
reach 128², raw volume renders fixed at 64², a [−0.7, 0.7]³ box, FOV 49.1°, cameras on the
sphere of radius 2 with the reference at azimuth 180°; a discriminator conditioned on the
absolute camera pose; the non-saturating loss with lazy R1 (γ = 3), adaptive discriminator
augmentation and a generator EMA; a prior cache of 10K samples. Where the papers give no
number, the field takes EG3D's (the code CAD adapts) and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocol.schema import Record, SchemaError, param

from ..gpu_memory import GpuMemoryConfig

PRIORS = ("zero123", "synthetic")
REFINERS = ("deepfloyd_if", "controlnet_depth", "none")
"""Distribution refinement of the Zero123 prior."""
BAD_KINDS = ("wrong_pose", "wrong_object", "corrupted")
"""Kinds of bad prior sample the synthetic prior can inject (the synthetic world's ``SampleLabel`` values)."""


@dataclass(frozen=True)
class PruningConfig(Record):
    """Thresholds of the two checks. The papers give none of them; both are relative — to the pose's own foreground area
    and to the job's own similarity scores — and their defaults were measured on random synthetic families
    (:mod:`backend.teachers.synthetic.random_world`, see the README), not on the built-in four."""

    dilation_fraction: float = param(0.1, doc="The shared overlap is dilated by this fraction of the image side, rounded to "
                                     "pixels (3 px at 32², 5 at 48², 26 at 256²), to allow some deformation between samples.", ge=0.0, le=0.5)
    max_outside_fraction: float = param(0.06, doc="A pose is dropped when some sample has more foreground pixels outside the dilated "
                                        "overlap than this share of the samples' mean foreground area (the paper gives no count; "
                                        "relative to the object's size so that small and large objects are judged alike).", ge=0.0, le=100.0)
    similarity_spreads: float = param(3.0, doc="A pose is dropped when some sample's image similarity to the reference (Eq. 11) is "
                                      "more than this many robust spreads (1.4826 × MAD) below the median over the calibration poses "
                                      "(the paper's threshold is an unstated constant; a relative cut holds for CLIP and the stand-in "
                                      "alike, and for objects whose views differ much from the reference).", ge=0.0, le=100.0)
    calibration_poses: int = param(32, doc="Poses sampled first, with their own seed, to measure the job's similarity scores "
                                   "(their N samples are scored, not cached).", ge=3, le=10_000)
    tolerance: float = param(0.02, doc="A pixel is foreground when some channel differs from the white background by more.", gt=0.0, lt=1.0)


@dataclass(frozen=True)
class ElevationConfig(Record):
    """Estimating the reference's elevation when the job gives no camera (:mod:`backend.methods.cad.elevation`)."""

    estimate: bool = param(True, doc="Zero123 prior, no job camera: estimate the elevation from Zero123 views of the reference by "
                           "silhouette coherence (One-2-3-45's procedure; off: use reference_elevation).")
    search_range: tuple[float, float] = param((-30.0, 60.0), doc="Elevations° considered.", ge=-80.0, le=80.0)
    coarse_step_deg: float = param(10.0, doc="Step of the coarse scan.", gt=0.0, le=90.0)
    fine_step_deg: float = param(2.5, doc="Step of the fine scan around the best coarse elevation.", gt=0.0, le=90.0)
    mask_size: int = param(64, doc="Side the silhouettes are resampled to.", ge=16, le=512)
    ray_samples: int = param(64, doc="Depths sampled along each foreground ray.", ge=8, le=1024)
    min_coherence: float = param(0.6, doc="An estimate is trusted when its silhouette coherence reaches this… (on random synthetic "
                                 "families the true cameras score ≥ 0.967; noise views score far lower)", ge=0.0, le=1.0)
    min_contrast: float = param(0.02, doc="…and beats the scan's worst elevation by this much (blank or frame-filling views explain "
                                "every elevation equally; on random synthetic families the contrast is ≥ 0.069); otherwise "
                                "reference_elevation is used.", ge=0.0, le=1.0)

    def check(self) -> None:
        low, high = self.search_range
        if low >= high:
            raise SchemaError("search_range", f"needs low < high, got {self.search_range}")


@dataclass(frozen=True)
class PriorSamplingConfig(Record):
    """How many poses and samples, and the pruning thresholds."""

    samples: int = param(10_000, doc="Samples the cache keeps, each the best of its own pose (supplement: 10K samples, each with a "
                         "unique pose); poses are tried until this many pass pruning.", ge=1, le=1_000_000)
    max_tries: float = param(4.0, doc="At most this many times ``samples`` poses are tried; when pruning keeps fewer, the cache ends "
                             "short and its report says how many it kept.", ge=1.0, le=100.0)
    samples_per_pose: int = param(4, doc="N parallel samples per pose that pruning compares (the paper does not give N).", ge=1, le=64)
    chunk_poses: int = param(256, doc="Poses tried per chunk file; an interrupted run redoes at most one chunk.", ge=1, le=100_000)
    elevation_range: tuple[float, float] = param((-90.0, 90.0), doc="Elevation° band of the poses, uniform on the sphere within it "
                                                 "(paper: the whole sphere).", ge=-90.0, le=90.0)
    sample_jitter_deg: float = param(3.0, doc="Synthetic prior: the N samples of a pose show one family member from poses jittered by up "
                                     "to this many degrees — the spread of N Zero123 samples of one view.", ge=0.0, le=45.0)
    bad_fraction: float = param(0.0, doc="Chance a pose fails (1 to N of its samples bad), to measure pruning; 0 for real use.", ge=0.0, le=1.0)
    bad_kinds: tuple[str, ...] = param(BAD_KINDS, doc="Kinds of bad sample a failing pose gets (drawn uniformly): 'wrong_pose' (90°–270° "
                                       "off in azimuth), 'wrong_object' (another family), 'corrupted'.", choices=BAD_KINDS, max_len=len(BAD_KINDS))
    pruning: PruningConfig = param(factory=PruningConfig, doc="Pose-pruning thresholds.")

    @property
    def max_poses(self) -> int:
        """The most poses a cache tries: ``max_tries`` × ``samples``, rounded up."""
        return math.ceil(self.max_tries * self.samples)

    def check(self) -> None:
        low, high = self.elevation_range
        if low >= high:
            raise SchemaError("elevation_range", f"needs low < high, got {self.elevation_range}")
        if self.bad_fraction > 0 and not self.bad_kinds:
            raise SchemaError("bad_kinds", "needs at least one bad kind when bad_fraction > 0")


@dataclass(frozen=True)
class GeneratorConfig(Record):
    """The 3D generator G(z): mapping network, StyleGAN2 synthesis of triplanes, decoder, volume rendering."""

    z_dim: int = param(512, doc="Length of z (EG3D: 512).", ge=1, le=2048)
    w_dim: int = param(512, doc="Length of w (EG3D: 512).", ge=1, le=2048)
    mapping_layers: int = param(2, doc="Fully connected layers of the mapping network (EG3D: 2).", ge=1, le=8)
    triplane_resolution: int = param(128, doc="Triplane side after the synthesis network (paper: 128², EG3D's 256² reduced).", ge=8, le=512)
    triplane_channels: int = param(32, doc="Feature channels per plane (EG3D: 32).", ge=4, le=128)
    channel_base: int = param(32768, doc="StyleGAN2 channel budget: a block at resolution r has min(channel_base / r, channel_max) channels (EG3D: 32768).", ge=64)
    channel_max: int = param(512, doc="Channel cap of the synthesis and discriminator blocks (EG3D: 512).", ge=8, le=1024)
    decoder_hidden: int = param(64, doc="Hidden units of the triplane decoder MLP (EG3D: 64).", ge=8, le=512)
    render_features: int = param(32, doc="Channels of the rendered feature image; the first 3 are the raw RGB (EG3D: 32).", ge=3, le=128)
    render_resolution: int = param(64, doc="Raw volume-render resolution, fixed throughout (paper: 64²).", ge=8, le=256)
    samples: int = param(48, doc="Stratified samples per ray (EG3D: 48).", ge=4, le=256)
    importance_samples: int = param(48, doc="Importance samples per ray (EG3D: 48; 0: none).", ge=0, le=256)
    box: float = param(0.7, doc="Half side of the box the triplanes span (paper: [−0.7, 0.7]³).", gt=0.0, le=2.0)
    fov_deg: float = param(49.1, doc="Vertical field of view of every camera (paper: 49.1°).", gt=1.0, lt=170.0)
    radius: float = param(2.0, doc="Camera distance (paper: the sphere of radius 2).", gt=0.0, le=10.0)
    image_resolution: int = param(256, doc="Output of the stage-1 2D upsampler and of the stage-2 3D branch (paper: 256²).", ge=8, le=1024)


@dataclass(frozen=True)
class DiscriminatorConfig(Record):
    """StyleGAN2 residual discriminator conditioned on the absolute camera pose (EG3D's projection conditioning)."""

    channel_base: int = param(32768, doc="Channel budget, as the generator's (EG3D: 32768).", ge=64)
    channel_max: int = param(512, doc="Channel cap (EG3D: 512).", ge=8, le=1024)
    pose_embedding: int = param(512, doc="Width of the pose embedding the final features are projected on (EG3D's cmap_dim: 512).", ge=1, le=2048)
    mbstd_group: int = param(4, doc="Minibatch-standard-deviation group size (StyleGAN2: 4).", ge=1, le=64)


@dataclass(frozen=True)
class TrainConfig(Record):
    """Adversarial distillation: non-saturating loss, lazy R1, ADA, EMA, two stages."""

    batch: int = param(32, doc="Images per step, real and generated each (EG3D: 32).", ge=1, le=1024)
    g_lr: float = param(0.0025, doc="Generator Adam learning rate (EG3D: 0.0025).", gt=0.0, le=1.0)
    d_lr: float = param(0.002, doc="Discriminator Adam learning rate (EG3D: 0.002).", gt=0.0, le=1.0)
    betas: tuple[float, float] = param((0.0, 0.99), doc="Adam betas (StyleGAN2: 0, 0.99).", ge=0.0, lt=1.0)
    r1_gamma: float = param(3.0, doc="R1 weight γ (paper: γ = 3 in all experiments).", ge=0.0)
    r1_interval: int = param(16, doc="Lazy regularisation: R1 every this many steps, scaled up by it (StyleGAN2: 16).", ge=1)
    ema_kimg: float = param(10.0, doc="Generator EMA half-life in thousands of images (StyleGAN2: 10).", gt=0.0)
    ada_target: float = param(0.6, doc="ADA's target for r_t = E[sign(D(real))] (StyleGAN2-ADA: 0.6).", gt=0.0, lt=1.0)
    ada_interval: int = param(4, doc="Adjust the augmentation probability p every this many steps (StyleGAN2-ADA: 4).", ge=1)
    ada_kimg: float = param(500.0, doc="p can move from 0 to 1 within this many thousand images (StyleGAN2-ADA: 500).", gt=0.0)
    stage1_steps: int = param(25_000, doc="Steps with the 2D image-space upsampler (supplement: 1.5 of 3 days; the count is ours).", ge=1)
    stage2_steps: int = param(25_000, doc="Steps of consistency training with the 3D triplane upsampler (0: stage 1 only).", ge=0)
    lpips_weight: float = param(1.0, doc="Weight of LPIPS between the 3D branch and the stop-gradient 2D branch in stage 2 (Eq. 10); "
                                "its gradient reaches the 3D upsampler only, as the paper says Eq. 10 optimises it.", ge=0.0)
    patch_size: int = param(64, doc="Side of the stage-2 patches (paper: 64²).", ge=8, le=512)
    patch_width: float = param(0.25, doc="The patch discriminator's channel budget and cap, as a fraction of the discriminator's "
                               "(paper: 'a small patch discriminator', size not given). It also sees where its patch lies: two "
                               "channels of image coordinates in [−1, 1] are stacked on the patch.", gt=0.0, le=1.0)
    density_reg: float = param(0.25, doc="EG3D's density regularisation against floaters: weight of the L1 between the density at "
                               "random points of the box and at points perturbed from them (EG3D: 0.25).", ge=0.0)
    density_reg_every: int = param(4, doc="Density regularisation every this many steps, scaled up by it (EG3D: 4).", ge=1)
    density_reg_distance: float = param(0.004, doc="Std of the perturbation as a fraction of the box's side (EG3D: 0.004 with a box "
                                        "of side 1).", gt=0.0, le=0.5)
    preview_every: int = param(500, doc="Send a grid of samples from fixed latents every this many steps.", ge=1)
    checkpoint_every: int = param(2000, doc="Write a resumable checkpoint every this many steps.", ge=1)
    preview_latents: int = param(4, doc="Fixed latents in the preview grid.", ge=1, le=16)
    preview_resolution: int = param(256, doc="Side of stage 2's progress renders of the 3D branch, whatever image_resolution is (the "
                                    "CPU presets take 64: volume rendering is costly there). Every sample is shown at 256², stage 1's "
                                    "2D-branch images too, smaller ones enlarged (the top-level preview_resolution is the scrub meshes').",
                                    ge=16, le=512)


@dataclass(frozen=True)
class CADConfig(Record):
    prior: str = param("zero123", doc="Where the multi-view samples come from: 'zero123' (Zero123 + refinement, needs weights) or "
                       "'synthetic' (renders of a synthetic family, no weights).", choices=PRIORS)
    family: str = param("", doc="With the synthetic prior: a built-in family name (snowman, mushroom, table, ring_on_cube), random:<seed> (a random family nobody designed) or a folder of GLB files.", max_len=1024)
    reference_elevation: float = param(0.0, doc="Elevation° of the reference view when the job gives no camera and none is estimated "
                                       "(the synthetic prior, or elevation.estimate off).", ge=-89.0, le=89.0)
    elevation: ElevationConfig = param(factory=ElevationConfig, doc="Estimating the reference's elevation.")
    sampling: PriorSamplingConfig = param(factory=PriorSamplingConfig, doc="Multi-view prior sampling and pose pruning.")
    refiner: str = param("deepfloyd_if", doc="Zero123 prior: 'deepfloyd_if' refines each sample by SDEdit with DeepFloyd IF (s = 0.3 / 0.7, "
                         "the supplement's) under the view-dependent prompt; 'controlnet_depth' by ControlNet-depth img2img "
                         "(controlnet_strength) on the depth model's estimate; 'none' keeps Zero123's samples.", choices=REFINERS)
    controlnet_strength: float = param(0.8, doc="SDEdit strength s of the ControlNet-depth refinement (paper: 0.8).", gt=0.0, le=1.0)
    prior_steps: int = param(50, doc="Zero123 prior: DDIM steps of sampling and of each refinement stage.", ge=1, le=1000)
    zero123_guidance: float = param(3.0, doc="Zero123 prior: classifier-free guidance of the samples (Zero-1-to-3's sampling default).", gt=0.0, le=50.0)
    generator: GeneratorConfig = param(factory=GeneratorConfig, doc="The 3D generator.")
    discriminator: DiscriminatorConfig = param(factory=DiscriminatorConfig, doc="The pose-conditioned discriminator.")
    train: TrainConfig = param(factory=TrainConfig, doc="Adversarial distillation.")
    memory: GpuMemoryConfig = param(factory=GpuMemoryConfig, doc="GPU memory of the Zero123 prior's diffusion models (offload, attention slicing).")
    truncation: float = param(0.7, doc="ψ of the sample the job returns (EG3D's 0.7).", ge=0.0, le=1.0)
    export_resolution: int = param(128, doc="Marching-cubes resolution of full-quality meshes.", ge=16, le=512)
    preview_resolution: int = param(48, doc="Marching-cubes resolution of preview meshes (scrubbing).", ge=8, le=256)
    texture_size: int = param(512, doc="Side of the baked texture of full-quality meshes.", ge=16, le=4096)

    def required_models(self) -> tuple[str, ...]:
        """Model-registry roles a job needs on disk (none for the synthetic prior)."""
        if self.prior == "synthetic":
            return ()
        refiners = {"deepfloyd_if": ("deepfloyd_if_stage1", "deepfloyd_if_stage2"), "controlnet_depth": ("controlnet_depth", "controlnet_base", "depth")}
        return ("zero123", "clip") + refiners.get(self.refiner, ())

    def check(self) -> None:
        g = self.generator
        if g.render_resolution > g.image_resolution:
            raise SchemaError("generator.render_resolution", "must not exceed generator.image_resolution")
        if self.train.patch_size > g.image_resolution:
            raise SchemaError("train.patch_size", "must not exceed generator.image_resolution")
        if any(r & (r - 1) for r in (g.triplane_resolution, g.render_resolution, g.image_resolution)):
            raise SchemaError("generator", "triplane_resolution, render_resolution and image_resolution must be powers of two")
        if self.prior == "synthetic" and not self.family:
            raise SchemaError("family", "the synthetic prior needs a built-in family name, random:<seed> or a folder of GLB files")
        if self.family and self.prior != "synthetic":
            raise SchemaError("family", f"a family is for prior 'synthetic' (--prior synthetic); prior {self.prior!r} samples the input image")


PRESETS = {
    "paper": {},
    "tiny": {
        "sampling.samples": 96, "sampling.samples_per_pose": 3,
        "generator.z_dim": 32, "generator.w_dim": 32, "generator.triplane_resolution": 32, "generator.triplane_channels": 8,
        "generator.channel_base": 1024, "generator.channel_max": 32, "generator.decoder_hidden": 32, "generator.render_features": 8,
        "generator.render_resolution": 16, "generator.samples": 16, "generator.importance_samples": 8, "generator.image_resolution": 32,
        "discriminator.channel_base": 512, "discriminator.channel_max": 32, "discriminator.pose_embedding": 32,
        "train.batch": 8, "train.g_lr": 0.004, "train.d_lr": 0.004, "train.ema_kimg": 0.5, "train.ada_kimg": 5.0,
        "train.stage1_steps": 300, "train.stage2_steps": 60, "train.patch_size": 16, "train.density_reg": 0.0,
        "train.preview_every": 50, "train.checkpoint_every": 100, "train.preview_resolution": 64,
        "export_resolution": 48, "preview_resolution": 24, "texture_size": 128,
    },
}
PRESETS["fast"] = {
    **PRESETS["tiny"], "sampling.samples": 512,
    "train.stage1_steps": 1600, "train.stage2_steps": 400, "train.preview_every": 250, "train.checkpoint_every": 500,
}
"""``paper``: the paper's numbers (days on several GPUs); ``fast``: the tiny networks trained longer on a larger cache —
512 prior samples, 1,600 + 400 steps, under 10 minutes on 2 CPU cores (its numbers on random families are in the README);
``tiny``: CPU tests and the shipped demo generator. Both CPU presets leave out EG3D's density regularisation, which in
tiny's 360 steps kept surfaces from forming (nearest-member IoU 0.30 with it) and in a run of 2,000 + 200 steps changed nothing
measurable (random:4: 0.771 with it, 0.776 without)."""


@dataclass(frozen=True)
class InvertConfig(Record):
    generator: str = param("", doc="A CAD generator: 'demo', a folder with generator.json, or the id of a finished CAD job.", max_len=1024)
    space: str = param("w+", doc="'w': one w for every layer (the paper's main text); 'w+': one per layer, closer reconstructions (supplement D).", choices=("w", "w+"))
    steps: int = param(200, doc="Adam steps of the inversion.", ge=1, le=5000)
    lr: float = param(0.05, doc="Adam learning rate on the latent.", gt=0.0, le=10.0)
    lpips_weight: float = param(1.0, doc="Weight of LPIPS next to the pixel MSE.", ge=0.0, le=100.0)
