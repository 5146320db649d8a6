"""The ``distill3d`` command: one small module per group of subcommands, plus those the methods contribute.

Generic commands carry no method's flags: ``generate --method M`` and ``train --method M`` read
``--method`` before parsing and add M's shortcut flags (its spec's ``cli_options``) and, for
``train``, its train hook's arguments; ``bench M`` and further commands (CAD's ``invert``) come
from the specs too.
"""

from __future__ import annotations

import argparse
import logging
import sys

from protocol import __version__
from protocol.errors import ProtocolError
from protocol.schema import SchemaError

from . import bench, catalogue, evaluate, generate, generators, jobs, models, serve, train, world
from .common import EXIT_USAGE, UsageError, method_named_in

log = logging.getLogger("distill3d")


def _add_method_commands(sub: argparse._SubParsersAction) -> None:
    """The commands the method specs contribute (a name already taken is skipped with a warning)."""
    from .. import methods

    for spec in methods.entries():
        for name, command in spec.commands.items():
            if name in sub.choices:
                log.warning("method %s contributes a command %r, which is taken; it is left out", spec.name, name)
                continue
            p = sub.add_parser(name, help=command.help, description=command.help)
            methods.resolve_reference(command.arguments)(p)
            p.set_defaults(func=methods.resolve_reference(command.run))


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv`` (its ``--method``, if any, decides which method flags ``generate`` and ``train`` take)."""
    method = method_named_in(list(sys.argv[1:] if argv is None else argv))
    parser = argparse.ArgumentParser(prog="distill3d", description="Image, camera and prompt to a textured mesh.")
    parser.add_argument("--version", action="version", version=f"distill3d {__version__}")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: INFO for serve, WARNING for client commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve.add(sub)
    world.add(sub)
    generators.add(sub)
    train.add(sub, method)
    catalogue.add(sub)
    models.add(sub)
    jobs.add(sub)
    generate.add(sub, method)
    bench.add(sub)
    evaluate.add(sub)
    _add_method_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..methods.spec import CommandError

    args = build_parser(argv).parse_args(argv)
    level = args.log_level or ("INFO" if args.command == "serve" else "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (UsageError, CommandError) as exc:
        print(f"distill3d: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProtocolError as exc:
        print(f"distill3d: {exc.code.value}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except SchemaError as exc:
        print(f"distill3d: invalid argument: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TimeoutError:
        print("distill3d: the backend stopped answering", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("distill3d: interrupted", file=sys.stderr)
        return 130
