"""DTC123's method spec (read by the registry; imports no torch)."""

from __future__ import annotations

from ..spec import CliOption, Command, MethodSpec
from .config import PRESETS, DTC123Config

SPECS = (
    MethodSpec(
        name="dtc123",
        description="One image to a textured mesh: a hash-grid NeRF distilled from Zero-1-to-3 with DTC123's time-step "
        "curriculum (annealed interval, band mask), exported as a textured mesh. Needs Zero123-XL weights, or teacher "
        "'synthetic' with a 'target' GLB (no weights). About 20 min on an A100 with the 'paper' preset.",
        config_class=DTC123Config,
        factory="backend.methods.dtc123.pipeline:DTC123Method",
        presets=PRESETS,
        default_preset="paper",
        resumable=True,
        cli_options=(
            CliOption("--teacher", "teacher", "the teacher ('synthetic': the target object teaches, no weights)", "NAME"),
            CliOption("--target", "target", "with --teacher synthetic: the object (GLB) to reconstruct", "OBJECT.glb", kind="path"),
        ),
        bench=Command("DTC123 seconds per iteration per stage and projected total per preset",
                      "backend.methods.dtc123.commands:bench_arguments", "backend.methods.dtc123.commands:run_bench"),
        example="backend.methods.dtc123.example:example_job",
    ),
)
