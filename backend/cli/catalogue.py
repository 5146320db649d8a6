"""``distill3d methods``: what this backend can run (``distill3d models``, the pretrained models, is :mod:`.models`)."""

from __future__ import annotations

import argparse
import json
import sys

from protocol.messages import Footprint
from protocol.sizes import human_size

from .common import EXIT_OK


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list methods, presets and parameters (no server needed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_methods)


def run_methods(args: argparse.Namespace) -> int:
    from protocol.schema import to_plain

    from .. import methods
    from ..methods.configs import describe, resolve
    from ..methods.footprints import shipped, weights_bytes

    found = methods.entries()
    footprints = shipped()
    if args.json:
        print(json.dumps([{"name": e.name, "description": e.description, "role": e.role, "presets": sorted(e.presets),
                           "default_preset": e.default_preset,
                           "train_presets": sorted(e.train.presets) if e.train else [], "params": to_plain(describe(e.config_class)),
                           "flags": {o.flag: o.param for o in e.cli_options},
                           "footprints": [to_plain(f) for f in footprints.of(e.name)]} for e in found], indent=2))  # fmt: skip
        return EXIT_OK
    for problem in [*methods.problems(), *footprints.problems]:
        print(f"warning: {problem}", file=sys.stderr)
    if not found:
        print("no methods are installed in this backend")
    for entry in found:
        print(f"{entry.name}: {entry.description}")
        print(f"  presets: {', '.join(sorted(entry.presets))} (default {entry.default_preset})")
        if entry.train is not None and entry.train.presets:
            print(f"  presets of `distill3d train --method {entry.name}` only: {', '.join(sorted(entry.train.presets))}")
        print("  peak memory and time of one job (`distill3d bench footprint`):")
        for preset in sorted(entry.presets):
            rows = [f for f in footprints.of(entry.name) if f.preset == preset]
            weights = weights_bytes(resolve(entry, preset, {})[1])
            floor = f"; on a GPU at least its models' weights, about {human_size(weights)}" if weights and not any(f.device == "cuda" for f in rows) else ""
            print(f"    {preset}: {'; '.join(footprint_text(f) for f in rows) if rows else 'not measured'}{floor}")
        for option in entry.cli_options:
            print(f"  {option.flag} {option.metavar}  (= --set {option.param}=…) {option.help}")
        for info in describe(entry.config_class):
            bounds = ""
            if info.minimum is not None or info.maximum is not None:
                bounds = f" [{'' if info.minimum is None else info.minimum}..{'' if info.maximum is None else info.maximum}]"
            print(f"  --set {info.name}={json.dumps(info.default)}  ({info.type}{bounds}) {info.doc}")
    return EXIT_OK


def footprint_text(footprint: Footprint) -> str:
    """One recorded footprint in words, e.g. ``cpu: 327.2 MB (+ 555.7 MB process), 53.2 s on 2 CPU cores, 2026-12-06``, and
    what it was measured with."""
    memory = human_size(footprint.peak_bytes)
    if footprint.device == "cpu":
        memory += f" (+ {human_size(footprint.baseline_bytes)} process)"
    seconds = f"{footprint.seconds:.1f} s{' projected' if footprint.projected else ''}"
    note = f" ({footprint.note})" if footprint.note else ""
    return f"{footprint.device}: {memory}, {seconds} on {footprint.device_name or 'an unnamed device'}, {footprint.measured_on or 'undated'}{note}"
