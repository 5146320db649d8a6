"""``distill3d methods`` and ``distill3d models``: what this backend can run, and which pretrained models it has."""

from __future__ import annotations

import argparse
import json
import sys

from .common import EXIT_OK, EXIT_USAGE


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list methods, presets and parameters (no server needed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_methods)
    p = sub.add_parser("models", help="show every pretrained model, where it resolves and whether it is on disk (no server needed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_models)


def run_methods(args: argparse.Namespace) -> int:
    from protocol.schema import to_plain

    from .. import methods
    from ..methods.configs import describe

    found = methods.entries()
    if args.json:
        print(json.dumps([{"name": e.name, "description": e.description, "role": e.role, "presets": sorted(e.presets),
                           "default_preset": e.default_preset, "params": to_plain(describe(e.config_class)),
                           "flags": {o.flag: o.param for o in e.cli_options}} for e in found], indent=2))  # fmt: skip
        return EXIT_OK
    for problem in methods.problems():
        print(f"warning: {problem}", file=sys.stderr)
    if not found:
        print("no methods are installed in this backend")
    for entry in found:
        print(f"{entry.name}: {entry.description}")
        print(f"  presets: {', '.join(sorted(entry.presets))} (default {entry.default_preset})")
        for option in entry.cli_options:
            print(f"  {option.flag} {option.metavar}  (= --set {option.param}=…) {option.help}")
        for info in describe(entry.config_class):
            bounds = ""
            if info.minimum is not None or info.maximum is not None:
                bounds = f" [{'' if info.minimum is None else info.minimum}..{'' if info.maximum is None else info.maximum}]"
            print(f"  --set {info.name}={json.dumps(info.default)}  ({info.type}{bounds}) {info.doc}")
    return EXIT_OK


def run_models(args: argparse.Namespace) -> int:
    from ..teachers import registry

    try:
        resolutions = [registry.resolve(role) for role in registry.ROLES]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps([{"role": r.role, "reference": r.reference, "source": r.source, "present": r.present,
                           "path": None if r.path is None else str(r.path), "used_by": registry.ROLES[r.role].used_by,
                           "how_to_obtain": None if r.present else r.how_to_obtain()} for r in resolutions], indent=2))
        return EXIT_OK
    print(f"models config: {registry.config_path()}{'' if registry.config_path().is_file() else ' (not present)'}")
    for r in resolutions:
        role = registry.ROLES[r.role]
        state = f"present at {r.path}" if r.present else ("INCOMPLETE" if r.problem else "MISSING")
        print(f"{r.role}: {state}")
        print(f"  {role.description}; used by {role.used_by}")
        print(f"  resolves to {r.reference} (from {r.source})")
        if not r.present:
            print(f"  to get it: {r.how_to_obtain()}")
    missing = sum(not r.present for r in resolutions)
    print(f"{len(resolutions) - missing} of {len(resolutions)} models present"
          + ("; a job whose method needs a missing one is refused when it is submitted" if missing else ""))
    return EXIT_OK
