"""DTC123's typed config with the paper's defaults, and its presets (no torch: the registry imports this).

Numbers from the paper (``../shared/papers/dtc123-paper.txt``, Sec. 4–5): 3,000 iterations per
stage, Adan with lr 1e-3 and weight decay 2e-5, Zero123-XL with cfg 5 as the only stage-1
teacher, renders at 64² in stage 1, the reference view drawn with probability 0.25, the band
mask of Eq. 3 and the annealed interval of Eq. 2 — one time-step curriculum over both stages, stage 2
continuing at the small time-steps where stage 1 stopped; in stage 2 a DMTet whose tet grid grows
32 → 64 → 128 while its renders grow to 512², Stable Diffusion (cfg 25) joining Zero-1-to-3
with a weight λ that ramps up from 0, and de-biasing in the azimuth bands of Sec. 4.3. Where the paper gives no number (the interval
radius Δ, the step length l, t_min/t_max, loss weights, camera ranges) the field says what was
chosen and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from protocol.schema import Record, SchemaError, param

from ...core.glb_check import check_glb
from ..gpu_memory import GpuMemoryConfig

TEACHERS = ("zero123", "synthetic")


@dataclass(frozen=True)
class CurriculumConfig(Record):
    """The annealed time-step interval of Eq. 2: t ~ U[t_mid − Δ, t_mid + Δ] ∩ [t_min, t_max], one schedule over both stages
    (N of Eq. 2 = coarse.iterations + fine.iterations): stage 1 takes its large time-steps, stage 2 the small ones."""

    t_max: float = param(0.98, doc="Largest time-step, as a fraction of the teacher's T (the usual SDS range; the paper says 'the entire range').", gt=0.0, le=1.0)
    t_min: float = param(0.02, doc="Smallest time-step fraction.", ge=0.0, lt=1.0)
    log_base: float = param(2.0, doc="Base of Eq. 2's log, which the paper does not give: 2 makes t_mid sweep the whole range it names "
                            "(t_max at the start of stage 1, t_min at the end of stage 2; with 3,000 + 3,000 iterations stage 1 ends at "
                            "t_mid ≈ 0.42); e (2.718…) stops at 31 % of it, leaving the smallest time-steps unvisited.", gt=1.0, le=10.0)
    step_length: int = param(100, doc="l of Eq. 2: t_mid moves every l iterations, counted over both stages (not given in the paper).", ge=1)
    radius_start: float = param(0.2, doc="Interval radius Δ at the first iteration of stage 1 (the paper: 'narrows progressively'; value chosen).", ge=0.0, le=1.0)
    radius_end: float = param(0.05, doc="Interval radius Δ at the last iteration of stage 2 (narrows linearly from radius_start).", ge=0.0, le=1.0)
    annealed: bool = param(True, doc="False: t uniform in [t_min, t_max] every iteration (the ablation baseline).")


@dataclass(frozen=True)
class CameraConfig(Record):
    """Reference and random views of stage 1 (Zero-1-to-3's conventions: object in the unit cube at the origin)."""

    radius: float = param(2.0, doc="Camera distance of every view (Zero-1-to-3 renders Objaverse between 1.5 and 2.2).", gt=0.0, le=10.0)
    fov_deg: float = param(49.1, doc="Vertical field of view (Zero-1-to-3's training renders).", gt=1.0, lt=170.0)
    elevation_range: tuple[float, float] = param((-10.0, 45.0), doc="Elevation° of random views (not given in the paper; the usual Zero-1-to-3 SDS range).", ge=-89.0, le=89.0)
    reference_elevation: float = param(0.0, doc="Elevation° of the input image when the job gives no camera.", ge=-89.0, le=89.0)
    reference_probability: float = param(0.25, doc="Chance an iteration renders the reference view (paper: 25 %).", ge=0.0, le=1.0)


@dataclass(frozen=True)
class ViewWeightConfig(Record):
    """Footnote 2: ω̄(t) is calibrated by the spherical distance from the reference view — views near it are reconstructed
    well and need less teacher-guided imagination. The paper gives no formula; chosen: the SDS gradient of a view at
    great-circle angle θ from the reference view's direction is scaled by w(θ) = minimum + (1 − minimum)·(θ/π)^power,
    in both stages."""

    minimum: float = param(0.2, doc="w at the reference view's direction (chosen, the paper gives no formula; 1 turns the weighting off).", ge=0.0, le=1.0)
    power: float = param(1.0, doc="Exponent p of w(θ): 1 grows linearly with the angle to 1 at the opposite side (chosen, the paper gives no formula).", gt=0.0, le=10.0)


@dataclass(frozen=True)
class FieldConfig(Record):
    """The stage-1 student: Instant-NGP hash grid + a three-layer MLP (paper Sec. 5.1)."""

    levels: int = param(16, doc="Hash-grid levels L (Eq. 3 shows 4 at first, one more every N/10 iterations).", ge=4, le=32)
    log2_table_size: int = param(19, doc="log2 of the hash-table entries per level.", ge=8, le=24)
    max_resolution: int = param(2048, doc="Finest grid resolution over the box.", ge=16, le=8192)
    hidden: int = param(64, doc="Width of the MLP's hidden layers.", ge=8, le=512)
    bound: float = param(1.0, doc="The field lives in [−bound, bound]³.", gt=0.0, le=4.0)
    blob_density: float = param(10.0, doc="Density bias of the initial blob at the centre (Magic3D/threestudio's shape init).", ge=0.0)
    blob_radius: float = param(0.5, doc="Radius of the initial density blob.", gt=0.0)
    band_mask: bool = param(True, doc="Progressive band mask of Eq. 3 (off: all levels from the start).")


@dataclass(frozen=True)
class CoarseConfig(Record):
    """Stage 1: NeRF at low resolution, Zero-1-to-3 only."""

    iterations: int = param(3000, doc="Iterations N of stage 1 (paper: 3,000).", ge=1, le=100_000)
    resolution: int = param(64, doc="Render resolution of the random and reference views (paper: 64²).", ge=8, le=512)
    samples: int = param(64, doc="Stratified samples per ray.", ge=8, le=512)
    importance_samples: int = param(64, doc="Importance samples per ray after the stratified ones (0: none).", ge=0, le=512)
    guidance: float = param(5.0, doc="Zero-1-to-3 classifier-free guidance (paper: cfg = 5).", gt=0.0, le=100.0)
    lr: float = param(1e-3, doc="Adan learning rate (paper: 1e-3).", gt=0.0, le=1.0)
    weight_decay: float = param(2e-5, doc="Adan weight decay (paper: 2e-5).", ge=0.0, le=1.0)
    rgb_weight: float = param(1000.0, doc="Weight of the reference-view RGB MSE (λ_rec part; not given in the paper, Magic123's value).", ge=0.0)
    mask_weight: float = param(50.0, doc="Weight of the reference-view mask MSE (Magic123's value).", ge=0.0)
    depth_weight: float = param(10.0, doc="Weight of the reference-view depth loss 1 − Pearson (used when a depth estimate exists).", ge=0.0)
    normal_smooth_weight: float = param(0.5, doc="Weight λ_reg of Eq. 10, E_a‖n(a) − n(a + β·N(0, I))‖₁ at the expected surface points a of the "
                                        "rendered rays (opacity-weighted; value chosen, the paper gives none).", ge=0.0)
    normal_perturbation: float = param(0.01, doc="β of Eq. 10, in the field's units (the box is ±field.bound; chosen: stable-dreamfusion / "
                                       "Magic123's 3D normal smoothness uses 0.01, the paper says only 'small').", gt=0.0, le=0.5)
    preview_every: int = param(50, doc="Send a progress render every this many iterations.", ge=1)
    preview_resolution: int = param(256, doc="Side of the progress render, whatever resolution is (volume rendering is costly on a "
                                    "CPU: the CPU presets take 64). It is shown at 256² beside the reference: smaller renders are "
                                    "enlarged. Stage 2's previews are rasterised at 256².", ge=16, le=512)
    checkpoint_every: int = param(250, doc="Write a resumable checkpoint every this many iterations.", ge=1)


@dataclass(frozen=True)
class FineConfig(Record):
    """Stage 2: a DMTet initialised from stage 1; Zero-1-to-3 shapes it through textureless shading, Stable Diffusion
    (weight λ, ramping up from 0 as t falls) colours it (Eq. 4). The phases of ``grid_resolutions`` and
    ``raster_resolutions`` split the stage into equal parts, so both grow as t decreases."""

    iterations: int = param(3000, doc="Iterations of stage 2 (paper: 3,000; 0 skips it and exports the stage-1 field).", ge=0, le=100_000)
    grid_resolutions: tuple[int, ...] = param((32, 64, 128), doc="Tet-grid resolution of each phase (paper: 32 → 64 → 128).", ge=4, le=256, max_len=8)
    raster_resolutions: tuple[int, ...] = param((64, 256, 512), doc="Render resolution of each phase (paper: 64² → 512²); as many entries as grid_resolutions.", ge=8, le=1024, max_len=8)
    geometry_guidance: float = param(5.0, doc="Zero-1-to-3 cfg on the textureless shading (paper: 5).", gt=0.0, le=100.0)
    texture_guidance: float = param(25.0, doc="Stable Diffusion cfg on the coloured render (paper: 25).", gt=0.0, le=200.0)
    texture_weight: float = param(1.0, doc="λ of Eq. 4 at the end of the stage; it ramps linearly from 0, as the curriculum's t_mid falls from "
                                  "where stage 1 left it to t_min (the paper gives neither the ramp's shape nor the final value).", ge=0.0, le=100.0)
    lr: float = param(1e-3, doc="Adan learning rate (paper: 1e-3).", gt=0.0, le=1.0)
    weight_decay: float = param(2e-5, doc="Adan weight decay (paper: 2e-5).", ge=0.0, le=1.0)
    rgb_weight: float = param(1000.0, doc="Weight of the reference-view RGB MSE (as in stage 1).", ge=0.0)
    mask_weight: float = param(50.0, doc="Weight of the reference-view mask MSE; the mask is the rasteriser's antialiased coverage, whose "
                               "silhouette-edge gradients move the SDF and offsets.", ge=0.0)
    depth_weight: float = param(10.0, doc="Weight of 1 − Pearson against the reference depth estimate, when there is one.", ge=0.0)
    laplacian_weight: float = param(100.0, doc="Weight of the uniform-Laplacian smoothness mean‖LV‖ (paper Eq. 11; weight not given).", ge=0.0)
    max_deformation: float = param(0.5, doc="Tet-vertex offsets are bounded to this fraction of a grid cell (tanh-squashed).", ge=0.0, le=1.0)
    ddim_steps: int = param(4, doc="DDIM steps of the multi-step x̂₀ used in the last ddim_fraction of the stage (1: one-step x̂₀ throughout).", ge=1, le=50)
    ddim_fraction: float = param(0.1, doc="Share of the stage, at its end, that uses the multi-step x̂₀ (paper: 'the last few iterations').", ge=0.0, le=1.0)
    back_azimuths: tuple[float, float] = param((165.0, 195.0), doc="|azimuth|° band, from the reference view, where Zero-1-to-3's guidance is de-biased (paper: [11π/12, 13π/12]).", ge=0.0, le=360.0)
    side_azimuths: tuple[float, float] = param((30.0, 45.0), doc="|azimuth|° band where Stable Diffusion's guidance is de-biased (paper: ±[π/6, π/4]).", ge=0.0, le=360.0)
    debias_dropout: float = param(0.5, doc="Chance the de-biased guidance is dropped in its band (value chosen).", ge=0.0, le=1.0)
    debias_clip: float = param(0.1, doc="Otherwise the guidance's gradient is clamped element-wise to ±this in its band (value chosen).", gt=0.0)
    preview_every: int = param(50, doc="Send a progress render every this many iterations.", ge=1)
    checkpoint_every: int = param(250, doc="Write a resumable checkpoint every this many iterations.", ge=1)

    def check(self) -> None:
        if not self.grid_resolutions or len(self.grid_resolutions) != len(self.raster_resolutions):
            raise SchemaError("grid_resolutions", "needs as many phases as raster_resolutions, at least one")


@dataclass(frozen=True)
class DTC123Config(Record):
    teacher: str = param("zero123", doc="'zero123' (Zero123-XL weights via the model registry) or 'synthetic' (the ground truth of 'target', no weights).", choices=TEACHERS)
    target: str = param("", doc="With teacher 'synthetic': the GLB to reconstruct (its render at the job's camera is the input image).", max_len=4096)
    foreground_threshold: float = param(0.5, doc="Alpha (or background-distance) level above which a pixel is the object.", gt=0.0, lt=1.0)
    caption: str = param("auto", doc="A job with an image and no prompt: 'auto' captions the image with the registry's 'captioner' "
                         "(BLIP) when it is on disk, 'on' requires it, 'off' leaves the prompt empty.", choices=("auto", "on", "off"))
    view_prompts: str = param("auto", doc="Stable Diffusion's view prompts: 'auto' asks the registry's 'text_model', in one instruction "
                              "(paper Appendix C), for a consistent sentence per view (front, side, back, top; the paper's instruction names "
                              "left, right and rear) when it is on disk and the job has a prompt, 'on' requires it, 'off' keeps the "
                              "templates ('<prompt>, back view'); views the answer does not give keep the template.", choices=("auto", "on", "off"))
    reference_depth: str = param("auto", doc="Depth of an input image for the Pearson term: 'auto' estimates it when the registry's "
                                 "'depth' model (DPT) is on disk, 'on' requires it, 'off' never (the synthetic teacher knows the true depth).",
                                 choices=("auto", "on", "off"))
    object_fraction: float = param(0.8, doc="Recentred input images are scaled so the object's larger side is this fraction of the image.", gt=0.1, le=1.0)
    curriculum: CurriculumConfig = param(factory=CurriculumConfig, doc="The annealed time-step interval (Eq. 2), one over both stages.")
    view_weight: ViewWeightConfig = param(factory=ViewWeightConfig, doc="SDS weight by the angle from the reference view (footnote 2).")
    cameras: CameraConfig = param(factory=CameraConfig, doc="Reference and random views.")
    field: FieldConfig = param(factory=FieldConfig, doc="The stage-1 hash-grid NeRF.")
    coarse: CoarseConfig = param(factory=CoarseConfig, doc="Stage 1 (NeRF, Zero-1-to-3).")
    fine: FineConfig = param(factory=FineConfig, doc="Stage 2 (DMTet, Zero-1-to-3 for geometry + Stable Diffusion for texture).")
    memory: GpuMemoryConfig = param(factory=GpuMemoryConfig, doc="GPU memory of Zero-1-to-3 and Stable Diffusion (offload, attention slicing).")
    export_resolution: int = param(192, doc="Marching-cubes resolution of the stage-1 surface (what stage 2 starts from, or the export without it).", ge=16, le=1024)
    export_faces: int = param(20_000, doc="The exported mesh is decimated to this many faces when above it.", ge=100, le=2_000_000)
    iso_density: float = param(10.0, doc="The stage-1 surface's density level with surface_level 'fixed' (stable-dreamfusion's and "
                               "Magic123's 10), and the centre of the candidates with 'reference'.", gt=0.0)
    surface_level: str = param("reference", doc="How the stage-1 surface's level is chosen: 'reference' (departure from the papers' "
                               "code, which fixes it) takes, from iso_density × 2^(k/2), k = −6…6, the level whose silhouette at the "
                               "reference camera best overlaps the reference mask, so parts the NeRF holds as a light fog are kept "
                               "when the input shows them (the tiny preset's snowman lost a quarter of its height at the fixed 10); "
                               "'fixed' uses iso_density.", choices=("reference", "fixed"))
    texture_size: int = param(1024, doc="Texture side of the exported mesh.", ge=64, le=4096)

    def required_models(self) -> tuple[str, ...]:
        """Model-registry roles a job needs on disk (none for the synthetic teacher; Stable Diffusion only for stage 2;
        the depth, text and captioning models when ``reference_depth`` / ``view_prompts`` / ``caption`` are 'on')."""
        if self.teacher == "synthetic":
            return ()
        stage2 = ("stable_diffusion",) + (("text_model",) if self.view_prompts == "on" else ()) if self.fine.iterations > 0 else ()
        optional = (("depth",) if self.reference_depth == "on" else ()) + (("captioner",) if self.caption == "on" else ())
        return ("zero123",) + stage2 + optional

    def check_inputs(self) -> None:
        """With teacher 'synthetic', 'target' must name a GLB file with a mesh (its header and JSON checked, not its
        buffers): :class:`SchemaError` on 'target' otherwise, so a job is refused at submit, not failed in the worker."""
        if self.teacher != "synthetic":
            return
        if not self.target:
            raise SchemaError("target", "teacher 'synthetic' needs 'target', a GLB file to reconstruct")
        try:
            check_glb(Path(self.target).expanduser())
        except ValueError as exc:
            raise SchemaError("target", str(exc)) from None


PRESETS = {
    "paper": {},
    "fast": {
        "coarse.iterations": 1500, "coarse.resolution": 32, "coarse.samples": 48, "coarse.importance_samples": 0, "coarse.lr": 1e-2,
        "coarse.preview_every": 100, "coarse.preview_resolution": 64, "coarse.checkpoint_every": 250,
        "curriculum.step_length": 20, "curriculum.t_max": 0.7,
        "field.levels": 12, "field.log2_table_size": 15, "field.max_resolution": 256, "field.hidden": 64,
        "fine.iterations": 300, "fine.grid_resolutions": (32, 48, 64), "fine.raster_resolutions": (64, 96, 128),
        "fine.preview_every": 50, "fine.checkpoint_every": 100,
        "export_resolution": 128, "texture_size": 512,
    },
    "tiny": {
        "coarse.iterations": 300, "coarse.resolution": 32, "coarse.samples": 32, "coarse.importance_samples": 0,
        "coarse.preview_every": 50, "coarse.preview_resolution": 64, "coarse.checkpoint_every": 100, "coarse.lr": 3e-2,
        "curriculum.step_length": 10, "curriculum.t_max": 0.7,
        "fine.iterations": 120, "fine.grid_resolutions": (24, 32), "fine.raster_resolutions": (48, 64),
        "fine.preview_every": 40, "fine.checkpoint_every": 40,
        "field.levels": 8, "field.log2_table_size": 12, "field.max_resolution": 128, "field.hidden": 32,
        "export_resolution": 64, "export_faces": 5000, "texture_size": 128,
    },
}
"""``paper``: the paper's numbers; ``fast``: about 8 minutes on 2 CPU cores with the synthetic teacher (1,500 + 300 iterations,
stage 1 at 32², stage 2's tet grid 32³ → 48³ → 64³ rendered at 64² → 128²; on a GPU with the real teachers the renders reach
Zero-1-to-3 and Stable Diffusion at their native 256² / 512² all the same); ``tiny``: CPU tests. Both CPU presets take a larger
stage-1 lr for their few steps and start the curriculum at t_max 0.7, not 0.98 (a departure from the paper's 'entire range'):
with one curriculum over so few iterations stage 1 would spend most of its steps above t = 0.5, where the synthetic teacher's
x̂₀ is blurred by over a pixel of its 32² renders, and lose thin parts — the table's legs — that stage 2 cannot regrow."""
