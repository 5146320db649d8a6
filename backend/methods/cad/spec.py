"""CAD's method specs (read by the registry; import no torch): the distillation, and inversion of its generators."""

from __future__ import annotations

from ..spec import CliOption, Command, MethodSpec
from .config import PRESETS, CADConfig, InvertConfig

SPECS = (
    MethodSpec(
        name="cad",
        description="Image + prompt to a 3D generator: multi-view prior samples pruned by pose, distilled adversarially into an "
        "EG3D-style triplane GAN (CAD). The result is a sample mesh and the generator (for variants, interpolation, inversion). "
        "Needs Zero123-XL, DeepFloyd IF and CLIP weights, or prior 'synthetic' with a 'family' (no weights). Days on GPUs with the 'paper' preset.",
        config_class=CADConfig,
        factory="backend.methods.cad.pipeline:CADMethod",
        presets=PRESETS,
        default_preset="paper",
        resumable=True,
        generator_kinds={"cad": "backend.methods.cad.generator:load"},
        named_generators={"demo": "backend.methods.cad.demo:DEMO_GENERATOR"},
        cli_options=(
            CliOption("--prior", "prior", "where the multi-view samples come from ('synthetic': renders of a family, no weights)", "NAME"),
            CliOption("--family", "family", "with --prior synthetic: a built-in family name, random:<seed> or a folder of GLB files", "FAMILY", kind="path_if_exists"),
        ),
        train=Command("distil a CAD generator here, without a server (torchrun for several GPUs)",
                      "backend.methods.cad.commands:train_arguments", "backend.methods.cad.commands:run_train"),
        bench=Command("CAD training steps/s per stage and preset; sample latency and interpolation updates/s",
                      "backend.methods.cad.commands:bench_arguments", "backend.methods.cad.commands:run_bench"),
        commands={"invert": Command("find the latent of a CAD generator that reproduces an image; write its mesh (no server needed)",
                                    "backend.methods.cad.commands:invert_arguments", "backend.methods.cad.commands:run_invert")},
        example="backend.methods.cad.example:example_job",
    ),
    MethodSpec(
        name="invert",
        description="The latent of a CAD generator that best reproduces the input image (GAN inversion in w or w+), and its mesh.",
        config_class=InvertConfig,
        factory="backend.methods.cad.invert:InvertMethod",
        needs_image=True,
        role="generator",
        example="backend.methods.cad.example:invert_example_job",
    ),
)
