"""``distill3d world``: write a member of a synthetic family as a GLB (a target for the synthetic teacher, no weights)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import EXIT_OK, UsageError


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("world", help="write a member of a synthetic family as a GLB (no server needed)")
    p.add_argument("family", help="snowman, mushroom, table or ring_on_cube")
    p.add_argument("--seed", type=int, default=0, help="which member")
    p.add_argument("--out", required=True, metavar="OBJECT.glb")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..teachers.synthetic.families import family
    from ..teachers.synthetic.glb_io import export_scene

    try:
        scene = family(args.family).sample(torch.Generator().manual_seed(args.seed))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _, glb = export_scene(scene)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(glb)
    print(f"wrote {out} ({args.family}, seed {args.seed})")
    return EXIT_OK
