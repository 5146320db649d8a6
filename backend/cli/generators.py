"""``distill3d sample`` and ``distill3d interpolate``: meshes from any 3D generator, without a server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocol.connection import default_data_dir

from .common import EXIT_OK, UsageError


def generator_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", required=True, metavar="G", help="a generator folder (OUT.generator/), a job id on this machine's backend, a shipped one ('demo': CAD's, "
                        "'prd-demo': PRD's) or 'demo:<family>'")  # fmt: skip
    parser.add_argument("--data-dir", metavar="DIR", help=f"the backend's data directory, for job ids (default: {default_data_dir()})")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--truncation", type=float, default=0.7, metavar="PSI", help="ψ in [0, 1]: smaller stays nearer the average object (default 0.7)")
    parser.add_argument("--prompt", default="", metavar="TEXT", help="the condition of a prompt-conditioned generator (others ignore it)")
    parser.add_argument("--out", required=True, metavar="DIR")


QUALITIES = {"preview": "coarse, vertex-coloured, untextured", "full": "UV-textured"}
"""What each ``--quality`` makes."""


def generator_command(sub: argparse._SubParsersAction, name: str, help: str, quality: str) -> argparse.ArgumentParser:
    """A command of this module with the flags they share; its description and ``--quality`` say that ``quality`` is
    the default and what each quality makes."""
    description = f"{help}. Meshes are {quality} quality ({QUALITIES[quality]}) unless --quality says otherwise."
    parser = sub.add_parser(name, help=help, description=description)
    generator_arguments(parser)
    parser.add_argument("--quality", choices=list(QUALITIES), default=quality,
                        help="; ".join(f"{q}{' (default)' if q == quality else ''}: {made}" for q, made in QUALITIES.items()))  # fmt: skip
    return parser


def add(sub: argparse._SubParsersAction) -> None:
    p = generator_command(sub, "sample", "write N variants of a generator as GLBs, with their latents and a PNG sheet (no server needed)", "full")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="first seed; variant k uses seed + k")
    p.set_defaults(func=run_sample)
    p = generator_command(sub, "interpolate", "write meshes evenly spaced between two seeds' latents (no server needed)", "preview")
    p.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("A", "B"))
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--space", default=None, help="interpolation space (default: the generator's first; CAD: w, a line, or z, a great circle)")
    p.add_argument("--to-prompt", default=None, metavar="TEXT", help="a conditioned generator's prompt at B (default: --prompt)")
    p.set_defaults(func=run_interpolate)


def load_generator(args: argparse.Namespace):
    """The generator ``--generator`` names (job ids through the job store at ``--data-dir``)."""
    from .. import methods
    from ..generators import GeneratorError, load
    from ..job_layout import jobs_folder

    try:
        return load(args.generator, methods.generator_catalog(jobs_folder(args.data_dir)), args.device)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None


def write_made(made: list, out: Path) -> int:
    from ..generators import GeneratorError
    from ..generators.tools import write

    try:
        written = write(made, out)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None
    for item in made:
        if item.asset is None:
            print(f"no mesh for {item.name}: {item.facts['empty']}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def run_sample(args: argparse.Namespace) -> int:
    from ..generators import GeneratorError
    from ..generators.tools import sample

    generator = load_generator(args)
    try:
        made = sample(generator, args.n, args.seed, args.truncation, args.quality, args.prompt)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None
    return write_made(made, Path(args.out))


def run_interpolate(args: argparse.Namespace) -> int:
    from ..generators import GeneratorError
    from ..generators.tools import interpolate

    generator = load_generator(args)
    prompts = (args.prompt, args.prompt if args.to_prompt is None else args.to_prompt)
    try:
        made = interpolate(generator, args.seeds[0], args.seeds[1], args.steps, args.truncation, args.space, args.quality, prompts)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None
    return write_made(made, Path(args.out))
