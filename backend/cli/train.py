"""``distill3d train --method M``: train a method's model in this process, without a server (methods with a train hook)."""

from __future__ import annotations

import argparse

from protocol.errors import ProtocolError
from protocol.schema import SchemaError

from .common import UsageError, add_method_options, method_option_values, parse_sets


def trainable() -> list[str]:
    """Names of the methods that contribute a train command."""
    from .. import methods

    return [spec.name for spec in methods.entries() if spec.train is not None]


def add(sub: argparse._SubParsersAction, method: str | None) -> None:
    """The command, with the generic flags, then ``method``'s shortcut flags and its train hook's own arguments."""
    from .. import methods

    help = "train a method's model here, without a server (under torchrun for several GPUs where the method supports it)"
    p = sub.add_parser("train", help=help, description=help)
    p.add_argument("--method", required=True, help=f"one of: {', '.join(trainable()) or 'none installed'}")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--work", metavar="DIR", help="caches and checkpoints, to resume (default: OUT.work beside OUT)")
    p.add_argument("--out", required=True, metavar="DIR", help="where the trained model goes (e.g. a generator folder)")
    add_method_options(p, method)
    if method in trainable():
        hook = methods.get(method).train
        methods.resolve_reference(hook.arguments)(p.add_argument_group(f"training {method}"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import methods
    from ..methods.configs import describe, resolve

    if args.method not in trainable():
        raise UsageError(f"method {args.method!r} has no train command (trainable: {', '.join(trainable()) or 'none'})")
    spec = methods.get(args.method)
    params = parse_sets(args.set, {info.name: info.type for info in describe(spec.config_class)})
    params.update(method_option_values(args, args.method))
    try:
        _, args.config = resolve(spec.for_training(), args.preset, params)
    except (ProtocolError, SchemaError) as exc:
        raise UsageError(f"invalid parameters: {exc}") from None
    return methods.resolve_reference(spec.train.run)(args)
