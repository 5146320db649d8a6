"""``distill3d methods``: what this backend can run (``distill3d models``, the pretrained models, is :mod:`.models`)."""

from __future__ import annotations

import argparse
import json
import sys

from .common import EXIT_OK


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list methods, presets and parameters (no server needed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_methods)


def run_methods(args: argparse.Namespace) -> int:
    from protocol.schema import to_plain

    from .. import methods
    from ..methods.configs import describe

    found = methods.entries()
    if args.json:
        print(json.dumps([{"name": e.name, "description": e.description, "role": e.role, "presets": sorted(e.presets),
                           "default_preset": e.default_preset,
                           "train_presets": sorted(e.train.presets) if e.train else [], "params": to_plain(describe(e.config_class)),
                           "flags": {o.flag: o.param for o in e.cli_options}} for e in found], indent=2))  # fmt: skip
        return EXIT_OK
    for problem in methods.problems():
        print(f"warning: {problem}", file=sys.stderr)
    if not found:
        print("no methods are installed in this backend")
    for entry in found:
        print(f"{entry.name}: {entry.description}")
        print(f"  presets: {', '.join(sorted(entry.presets))} (default {entry.default_preset})")
        if entry.train is not None and entry.train.presets:
            print(f"  presets of `distill3d train --method {entry.name}` only: {', '.join(sorted(entry.train.presets))}")
        for option in entry.cli_options:
            print(f"  {option.flag} {option.metavar}  (= --set {option.param}=…) {option.help}")
        for info in describe(entry.config_class):
            bounds = ""
            if info.minimum is not None or info.maximum is not None:
                bounds = f" [{'' if info.minimum is None else info.minimum}..{'' if info.maximum is None else info.maximum}]"
            print(f"  --set {info.name}={json.dumps(info.default)}  ({info.type}{bounds}) {info.doc}")
    return EXIT_OK
