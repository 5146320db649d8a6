"""``distill3d generate``: submit a job, show its progress, save previews and the result (optionally on a backend of its own)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from protocol.buffers import Blob
from protocol.errors import ProtocolError
from protocol.messages import Camera, ImageInput, JobSpec, MethodInfo, Submit, Welcome
from protocol.schema import Record, SchemaError

from .common import (UsageError, add_method_options, client_arguments, connected, method_option_values, param_flag,
                     parse_sets, report)  # fmt: skip

CAMERA_FLAGS = {"elevation_deg": ("--camera-elevation", "DEG"), "azimuth_deg": ("--camera-azimuth", "DEG"),
                "distance": ("--camera-distance", "R"), "fov_deg": ("--camera-fov", "DEG")}  # fmt: skip
"""Each :class:`Camera` field's flag and placeholder."""
SPEC_FLAGS = {"method": "--method", "preset": "--preset", "prompt": "--prompt", "negative_prompt": "--negative-prompt",
              "seed": "--seed", "client_key": "--client-key", "params": "--set",
              **{f"camera.{name}": flag for name, (flag, _) in CAMERA_FLAGS.items()}}  # fmt: skip
"""The flag that sets each :class:`JobSpec` field, so that an error names what was typed, not the wire's field."""


def add(sub: argparse._SubParsersAction, method: str | None) -> None:
    """The command, with the flags of ``method`` (the ``--method`` of the command line being parsed) when it is known."""
    help = "submit a job, show its progress, save previews and the result"
    p = sub.add_parser("generate", help=help, description=help)
    client_arguments(p)
    p.add_argument("--method", required=True)
    p.add_argument("--image", metavar="PATH", help="input image (PNG, JPEG or WebP)")
    p.add_argument("--prompt", metavar="TEXT")
    p.add_argument("--negative-prompt", metavar="TEXT")
    p.add_argument("--seed", type=int)
    camera_arguments(p)
    p.add_argument("--preset", metavar="NAME")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config parameter (repeatable)")
    p.add_argument("--client-key", metavar="KEY", help="idempotency key: re-running with it returns the same job")
    p.add_argument("--out", required=True, metavar="OUT.glb")
    p.add_argument("--no-previews", action="store_true", help="do not save previews beside the output")
    p.add_argument("--local", action="store_true", help="start a backend in this process for this job")
    p.add_argument("--data-dir", metavar="DIR", help="with --local: job store (default: a temporary folder)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="with --local: device")
    add_method_options(p, method)
    p.set_defaults(func=run)


def camera_arguments(parser: argparse.ArgumentParser) -> None:
    """``--camera-elevation`` and the rest: one flag per :class:`Camera` field, with the field's doc and bounds."""
    for field in dataclasses.fields(Camera):
        flag, metavar = CAMERA_FLAGS[field.name]
        parser.add_argument(flag, type=float, metavar=metavar, dest=f"camera:{field.name}",
                            help=f"{field.metadata['doc'].rstrip('.')}: {bounds(field.metadata, metavar)}")  # fmt: skip


def bounds(metadata: Mapping[str, Any], metavar: str) -> str:
    """A field's numeric bounds as people write them, e.g. ``-90 ≤ DEG ≤ 90``."""
    low = next((f"{metadata[key]:g} {sign} " for key, sign in (("ge", "≤"), ("gt", "<")) if metadata[key] is not None), "")
    high = next((f" {sign} {metadata[key]:g}" for key, sign in (("le", "≤"), ("lt", "<")) if metadata[key] is not None), "")
    return f"{low}{metavar}{high}"


def run(args: argparse.Namespace) -> int:
    from ..follow import follow_job

    out = Path(args.out)
    with contextlib.ExitStack() as stack:
        if args.local:
            args.connect = stack.enter_context(local_server(args))
        client, welcome = stack.enter_context(connected(args))
        spec = job_spec(args, method_info(welcome, args.method))
        check_inputs_here(spec, welcome)
        reply = client.request(Submit(job=spec, follow=False))
        job = reply.job  # type: ignore[attr-defined]
        verb = "submitted" if reply.created else "already known (same client key)"  # type: ignore[attr-defined]
        print(f"job {job.job_id} {verb}: {job.method}/{job.preset}, seed {job.seed}", file=sys.stderr)
        job = follow_job(client, job.job_id, out=out, save_previews=not args.no_previews)
        return report(job)


@contextlib.contextmanager
def local_server(args: argparse.Namespace) -> Iterator[str]:
    """Run a server in this process for one job; yields its connection file.

    The terminal shows this command's own lines (the job's progress and log lines, from its events) and the server's
    records from the command's log level up (WARNING by default), each once; the server's and its worker's full logs go to
    ``logs/`` in the data dir, as with ``distill3d serve``."""
    from ..server.logs import logging_to_file
    from ..server.server import Server, ServerConfig

    with contextlib.ExitStack() as stack:
        data_dir = Path(args.data_dir) if args.data_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="distill3d-")))
        console_level = logging.getLogger().level
        file_level = min(console_level, logging.INFO)
        stack.enter_context(logging_to_file(data_dir / "logs" / "server.log", file_level))
        config = ServerConfig(data_dir=data_dir, bind="tcp://127.0.0.1:0", device=args.device, log_level=file_level, worker_console_level=console_level)
        server = Server(config)
        try:
            server.start()
        except RuntimeError as exc:
            raise UsageError(str(exc)) from None
        thread = threading.Thread(target=server.run, name="distill3d-local-server", daemon=True)
        thread.start()
        try:
            yield str(server.connection_file)
        finally:
            server.stop()
            thread.join(timeout=30)


def method_info(welcome: Welcome, name: str) -> MethodInfo | None:
    return next((m for m in welcome.methods if m.name == name), None)


def job_spec(args: argparse.Namespace, method: MethodInfo | None) -> JobSpec:
    """The job the command line describes (``--set`` values typed by the backend's description of the method)."""
    params = parse_sets(args.set, {p.name: p.type for p in method.params} if method else {})
    params.update(method_option_values(args, args.method))
    image = None
    if args.image:
        path = Path(args.image)
        try:
            image = ImageInput(data=Blob(path.read_bytes()), name=path.name[:256])
        except OSError as exc:
            raise UsageError(f"cannot read --image {path}: {exc.strerror}") from None
    try:
        return JobSpec(
            method=args.method, preset=args.preset, params=params, prompt=args.prompt or "",
            negative_prompt=args.negative_prompt or "", seed=args.seed, camera=camera(args), image=image,
            client_key=args.client_key,
        )
    except SchemaError as exc:
        raise UsageError(f"{spec_flag(exc.path, args.method)}: {exc.reason}") from None


def camera(args: argparse.Namespace) -> Camera | None:
    """The camera the ``--camera-*`` flags give (the method's own where none is given); a SchemaError under ``camera``."""
    values = {name: value for name in CAMERA_FLAGS if (value := getattr(args, f"camera:{name}")) is not None}
    try:
        return Camera(**values) if values else None
    except SchemaError as exc:
        raise exc.under("camera") from None


def spec_flag(path: str, method: str) -> str:
    """The flag that sets the :class:`JobSpec` field ``path`` (``camera.elevation_deg`` → ``--camera-elevation``)."""
    return SPEC_FLAGS.get(path) or param_flag(path.removeprefix("params."), method)


def check_inputs_here(spec: JobSpec, welcome: Welcome) -> None:
    """Refuse, before submitting, what the backend would refuse about this machine's files: an ``--image`` that is not
    an image (or over the backend's pixel limit), a file a method flag names that the method cannot use (a ``--target``
    that is no GLB); UsageError naming the flag."""
    from ..methods.configs import check_inputs
    from ..server.images import DEFAULT_MAX_PIXELS, validate_image

    if spec.image is not None:
        try:
            validate_image(bytes(spec.image.data), welcome.limits.get("max_image_pixels", DEFAULT_MAX_PIXELS))
        except ProtocolError as exc:
            raise UsageError(f"--image {spec.image.name}: {exc.message}") from None
    config = config_here(spec)
    if config is None:
        return
    try:
        check_inputs(config)
    except SchemaError as exc:
        raise UsageError(f"{param_flag(exc.path, spec.method)}: {exc.reason}") from None


def config_here(spec: JobSpec) -> Record | None:
    """The config the job would run with, resolved on this machine; None when this machine does not know the method or
    one of its parameters (the backend, which may be newer, judges those)."""
    from .. import methods
    from ..methods.configs import resolve

    try:
        return resolve(methods.get(spec.method), spec.preset, spec.params)[1]
    except ProtocolError:
        return None
