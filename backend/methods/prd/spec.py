"""PRD's method spec (read by the registry; imports no torch): instant text-to-mesh from an adapted Stable Diffusion."""

from __future__ import annotations

from ..spec import CliOption, Command, MethodSpec
from .config import PRESETS, TRAIN_PRESETS, PRDConfig

SPECS = (
    MethodSpec(
        name="prd",
        description="Prompt to a UV-textured mesh in about a second on a GPU: Stable Diffusion 2.1 adapted by PETA (rank-16 LoRA/LoCon) "
        "into a 4-step text-to-triplane generator (PRD / TriplaneTurbo). Seeds give variants; the job's id names a generator for "
        "variants and interpolation. Needs SD 2.1-base and triplane_turbo_sd_v1.pth (or a student trained with `distill3d train "
        "--method prd`); preset 'demo' runs the tiny student that ships with the project (the text world's 'a <colour> <shape>').",
        config_class=PRDConfig,
        factory="backend.methods.prd.pipeline:PRDMethod",
        presets=PRESETS,
        default_preset="paper",
        needs_prompt=True,
        generator_kinds={"prd": "backend.methods.prd.generator:load"},
        named_generators={"prd-demo": "backend.methods.prd.demo:DEMO_STUDENT"},
        cli_options=(
            CliOption("--weights", "weights", "PRD adapters: a PRD generator folder or triplane_turbo_sd_v1.pth", "PATH", kind="path"),
            CliOption("--student", "generator", "a PRD generator folder or the id of an earlier prd job", "SPEC"),
        ),
        train=Command("distil a PRD student here, without a server (torchrun for several GPUs); writes a PRD generator folder",
                      "backend.methods.prd.commands:train_arguments", "backend.methods.prd.commands:run_train", presets=TRAIN_PRESETS),
        bench=Command("PRD seconds per mesh by stage (text, 4 UNet steps, decode, marching cubes, export), tiny and SD 2.1-size",
                      "backend.methods.prd.commands:bench_arguments", "backend.methods.prd.commands:run_bench"),
        evaluate=Command("PRD against the text world: volume IoU and colour error on training and held-out prompts, with an "
                         "untrained twin and a wrong-prompt control", "backend.methods.prd.commands:eval_arguments",
                         "backend.methods.prd.commands:run_eval"),
        example="backend.methods.prd.example:example_job",
    ),
)
