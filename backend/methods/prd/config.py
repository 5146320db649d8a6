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
class PRDConfig(Record):
    """A PRD job: a prompt (and a seed) in, a textured mesh out."""

    student: StudentConfig = param(factory=StudentConfig, doc="The adapted Stable Diffusion and its triplane decoder.")
    inference: InferenceConfig = param(factory=InferenceConfig, doc="Sampling and meshing.")
    weights: str = param("", doc="The trained adapters: a PRD generator folder (generator.json + weights), the published "
                         "triplane_turbo_sd_v1.pth, or '' for the registry's 'prd_student' role.", max_len=4096)
    generator: str = param("", doc="A PRD generator spec to sample instead of building one from 'student' and 'weights' (e.g. "
                           "'demo-prd', the tiny student trained on the synthetic text world).", max_len=4096)
    truncation: float = param(1.0, doc="Scale of the initial plane noise (1: the sampler's own; PRD has no truncation).", ge=0.0, le=1.0)

    def required_models(self) -> tuple[str, ...]:
        """Model-registry roles a job needs on disk: none for a named generator or a tiny base; SD 2.1-base otherwise (and the
        published adapters when no weights are named)."""
        if self.generator or self.student.base not in ("stable_diffusion",):
            return ()
        return ("stable_diffusion",) + (() if self.weights else ("prd_student",))


PRESETS = {
    "paper": {},
    "demo": {"generator": "demo-prd"},
}
"""``paper``: the reference's numbers (SD 2.1-base and the published adapters from the model registry); ``demo``: the tiny student
shipped with the project, trained on CPU on the synthetic text world (no weights needed)."""
