"""``distill3d bench``: benchmarks that print a table; the generic ones here, each method's from its spec."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .common import EXIT_JOB_FAILED, EXIT_OK, UsageError, known_method, parse_sets


def add(sub: argparse._SubParsersAction) -> None:
    from .. import methods

    p = sub.add_parser("bench", help="benchmarks that print a table")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bench.add_parser("protocol", help="result transfer, event latency, broker memory under bad frames")
    b.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 64], metavar="MIB")
    b.add_argument("--events", type=int, default=2000, help="progress events to time")
    b.add_argument("--bad-frames", type=int, default=10_000)
    b.set_defaults(func=run_protocol)
    b = bench.add_parser("export", help="marching cubes + UVs + bake + GLB, ours against the usual path")
    b.add_argument("--faces", type=int, nargs="+", default=[20_000, 200_000], help="target face counts of our path")
    b.add_argument("--resolutions", type=int, nargs="+", default=[128, 256], help="marching-cubes resolution per target")
    b.add_argument("--usual-resolution", type=int, default=256, help="marching-cubes resolution of the usual path")
    b.add_argument("--skip-usual", action="store_true", help="do not run the usual path (minutes on a small CPU)")
    b.add_argument("--texture", type=int, default=1024, help="texture side, texels")
    b.add_argument("--repeats", type=int, default=3)
    b.set_defaults(func=run_export)
    b = bench.add_parser("render", help="volume-render and rasterise throughput")
    b.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 512])
    b.add_argument("--hashgrid-max", type=int, default=128, help="largest image for the hash-grid field")
    b.add_argument("--faces", type=int, default=100_000, help="faces of the rasterised mesh")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.set_defaults(func=run_render)
    b = bench.add_parser("blender-import", help="textured mesh into Blender: arrays + foreach_set vs the glTF importer")
    b.add_argument("--faces", type=int, default=200_000, help="faces of the imported mesh")
    b.add_argument("--resolution", type=int, default=256, help="marching-cubes resolution of the asset")
    b.add_argument("--repeats", type=int, default=3)
    b.set_defaults(func=run_blender_import)
    b = bench.add_parser("footprint", help="peak memory and seconds of one job of a method's preset, in a fresh process")
    b.add_argument("--method", required=True)
    b.add_argument("--preset", help="the method's default preset when not given")
    b.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config parameter (repeatable), e.g. --set teacher=synthetic")
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.add_argument("--max-steps", type=int, metavar="N", help="stop after N progress steps (the peak comes early) and project the seconds")
    b.add_argument("--note", default="", help="what a reader of the record must know (e.g. the inputs)")
    b.add_argument("--record", action="store_true", help="write the row into the package's footprints file")
    b.add_argument("--file", type=Path, help="with --record: this footprints file instead of the package's")
    b.set_defaults(func=run_footprint)
    for spec in methods.entries():
        if spec.bench is not None:
            b = bench.add_parser(spec.name, help=spec.bench.help, description=spec.bench.help)
            methods.resolve_reference(spec.bench.arguments)(b)
            b.set_defaults(func=methods.resolve_reference(spec.bench.run))


def run_protocol(args: argparse.Namespace) -> int:
    from ..bench.protocol_bench import run_protocol_bench

    run_protocol_bench(sizes_mib=args.sizes, events=args.events, bad_frames=args.bad_frames)
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from ..bench.export_bench import run_export_bench

    if len(args.faces) != len(args.resolutions):
        raise UsageError("give one --resolutions entry per --faces entry")
    run_export_bench(args.faces, args.resolutions, None if args.skip_usual else args.usual_resolution, args.repeats, args.texture)
    return EXIT_OK


def run_render(args: argparse.Namespace) -> int:
    from ..bench.render_bench import run_render_bench

    run_render_bench(args.resolutions, args.hashgrid_max, args.faces, args.repeats, args.device)
    return EXIT_OK


def run_blender_import(args: argparse.Namespace) -> int:
    from ..bench.blender_import_bench import run_blender_import_bench

    run_blender_import_bench(args.faces, args.resolution, args.repeats)
    return EXIT_OK


def run_footprint(args: argparse.Namespace) -> int:
    from ..bench.footprint_bench import FootprintJobFailed, run_footprint_bench
    from ..methods.configs import describe
    from ..methods.footprints import FOOTPRINTS_FILE

    entry = known_method(args.method)
    if entry is None:
        raise UsageError(f"no method {args.method!r}: `distill3d methods` lists them")
    preset = args.preset or entry.default_preset
    if preset not in entry.presets:
        raise UsageError(f"{entry.name} has no preset {preset!r} (its presets: {', '.join(sorted(entry.presets))})")
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError("--max-steps takes a count ≥ 1")
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    params = parse_sets(args.set, {p.name: p.type for p in describe(entry.config_class)})
    command = ["distill3d", "bench", "footprint", "--method", entry.name, "--preset", preset, "--device", device,
               *[f"--set={item}" for item in args.set or ()], *(["--max-steps", str(args.max_steps)] if args.max_steps else [])]  # fmt: skip
    try:
        run_footprint_bench(entry.name, preset, params, device, args.max_steps, shlex.join(command), args.note,
                            (args.file or FOOTPRINTS_FILE) if args.record else None)  # fmt: skip
    except FootprintJobFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_JOB_FAILED
    return EXIT_OK
