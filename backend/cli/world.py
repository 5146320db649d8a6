"""``distill3d world``: write a member of a synthetic family as a GLB (a target for the synthetic teacher, no weights)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import EXIT_OK, UsageError


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("world", help="write a member of a synthetic family as a GLB (no server needed)")
    p.add_argument("family", nargs="?", help="snowman, mushroom, table, ring_on_cube or random:<seed> (a random family)")
    p.add_argument("--family", dest="family_option", metavar="FAMILY", help="the same as the positional FAMILY")
    p.add_argument("--seed", type=int, default=0, help="which member (the family's seed is in random:<seed>)")
    p.add_argument("--out", required=True, metavar="OBJECT.glb")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..teachers.synthetic.families import family
    from ..teachers.synthetic.glb_io import export_scene

    if (args.family is None) == (args.family_option is None):
        raise UsageError("give the family once: distill3d world FAMILY or distill3d world --family FAMILY")
    name = args.family if args.family is not None else args.family_option
    try:
        scene = family(name).sample(torch.Generator().manual_seed(args.seed))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _, glb = export_scene(scene)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(glb)
    print(f"wrote {out} ({name}, seed {args.seed})")
    return EXIT_OK
