"""What the ``distill3d`` commands share: exit codes, readable errors, the backend connection, method flags."""

from __future__ import annotations

import argparse
import re
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protocol import __version__
from protocol.client import Client
from protocol.connection import ConnectionFileError, ConnectionInfo, default_connection_file, read_connection_file
from protocol.errors import ProtocolError
from protocol.messages import JobState, Welcome

if TYPE_CHECKING:
    from ..methods.spec import CliOption, MethodSpec

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input or an unreachable backend: printed without a traceback, exit code 2."""


def client_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that talks to a running backend."""
    parser.add_argument("--connect", metavar="CONNECTION_FILE", help=f"the backend's connection file (default: {default_connection_file()})")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the backend (default 10)")


def connection(args: argparse.Namespace) -> ConnectionInfo:
    path = Path(args.connect) if args.connect else default_connection_file()
    try:
        return read_connection_file(path)
    except ConnectionFileError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def connected(args: argparse.Namespace) -> Iterator[tuple[Client, Welcome]]:
    """A client connected to the backend ``args`` name, and its welcome; UsageError when it cannot connect."""
    client = Client(connection(args), name=f"distill3d-cli/{__version__}").start()
    try:
        try:
            status = client.wait_connected(args.timeout)
        except ProtocolError as exc:
            raise UsageError(exc.message) from None
        assert status.welcome is not None
        yield client, status.welcome
    finally:
        client.close()


def report(job: Any) -> int:
    """Say how a followed job ended; its exit status."""
    if job.state is JobState.SUCCEEDED:
        print(f"job {job.job_id} succeeded", file=sys.stderr)
        return EXIT_OK
    reason = f": {job.error.message}" if job.error else ""
    print(f"job {job.job_id} {job.state.value}{reason}", file=sys.stderr)
    return EXIT_JOB_FAILED


SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes of a size such as ``500M``, ``20G``, ``1.5T`` or ``4096`` (binary units; an optional trailing ``B`` or ``iB``);
    argparse's ``type`` (an ``ArgumentTypeError`` names the problem)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: write it like 500M, 20G or 1.5T")
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).upper()])


def parse_sets(items: list[str] | None, types: dict[str, str]) -> dict[str, Any]:
    """``--set key=value`` items as dotted overrides (values typed by the parameter's type label)."""
    from ..methods.configs import parse_cli_value

    params: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes key=value, got {item!r}")
        params[key.strip()] = parse_cli_value(value, types.get(key.strip()))
    return params


def method_named_in(argv: list[str]) -> str | None:
    """The value of ``--method`` in a command line, if it has one (read before parsing, to add that method's flags)."""
    for index, token in enumerate(argv):
        if token == "--method" and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith("--method="):
            return token.partition("=")[2]
    return None


def known_method(method: str | None) -> MethodSpec | None:
    """The spec of the method named ``method``; None when this machine does not know it."""
    from .. import methods

    if method is None or method not in {spec.name for spec in methods.entries()}:
        return None
    return methods.get(method)


def shortcut_options(method: str | None) -> tuple[CliOption, ...]:
    """The shortcut flags of the method named ``method``; none when this machine does not know it."""
    spec = known_method(method)
    return spec.cli_options if spec else ()


def add_method_options(parser: argparse.ArgumentParser, method: str | None) -> None:
    """The method's description and shortcut flags (``--target``, ``--family`` …), in their own group."""
    spec = known_method(method)
    if spec is None:
        parser.epilog = "Methods add flags of their own: see --help with --method NAME."
        return
    group = parser.add_argument_group(f"options of method {method}", f"{spec.description} (`distill3d methods` lists its presets and parameters.)")
    for option in spec.cli_options:
        group.add_argument(option.flag, dest=f"method_option:{option.param}", metavar=option.metavar,
                           help=f"{option.help} (= --set {option.param}=…)")  # fmt: skip


def param_flag(param: str, method: str) -> str:
    """The flag that sets config parameter ``param`` of ``method``: its shortcut (dtc123's ``--target``), else ``--set``."""
    return next((option.flag for option in shortcut_options(method) if option.param == param), f"--set {param}")


def method_option_values(args: argparse.Namespace, method: str) -> dict[str, Any]:
    """The dotted overrides the method's shortcut flags give (paths made absolute where the option says so)."""
    values: dict[str, Any] = {}
    for option in shortcut_options(method):
        value = getattr(args, f"method_option:{option.param}", None)
        if value is None:
            continue
        path = Path(value).expanduser()
        if option.kind == "path" or (option.kind == "path_if_exists" and path.exists()):
            value = str(path.resolve())  # the backend may run elsewhere on this machine
        values[option.param] = value
    return values
