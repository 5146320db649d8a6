"""``distill3d generate``: submit a job, show its progress, save previews and the result (optionally on a backend of its own)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from protocol.buffers import Blob
from protocol.messages import Camera, ImageInput, JobSpec, MethodInfo, Submit, Welcome
from protocol.schema import SchemaError

from .common import UsageError, add_method_options, client_arguments, connected, method_option_values, parse_sets, report


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
    p.add_argument("--camera-elevation", type=float, metavar="DEG")
    p.add_argument("--camera-azimuth", type=float, metavar="DEG")
    p.add_argument("--camera-distance", type=float, metavar="R")
    p.add_argument("--camera-fov", type=float, metavar="DEG")
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


def run(args: argparse.Namespace) -> int:
    from ..follow import follow_job

    out = Path(args.out)
    with contextlib.ExitStack() as stack:
        if args.local:
            args.connect = stack.enter_context(local_server(args))
        client, welcome = stack.enter_context(connected(args))
        spec = job_spec(args, method_info(welcome, args.method))
        reply = client.request(Submit(job=spec, follow=False))
        job = reply.job  # type: ignore[attr-defined]
        verb = "submitted" if reply.created else "already known (same client key)"  # type: ignore[attr-defined]
        print(f"job {job.job_id} {verb}: {job.method}/{job.preset}, seed {job.seed}", file=sys.stderr)
        job = follow_job(client, job.job_id, out=out, save_previews=not args.no_previews)
        return report(job)


@contextlib.contextmanager
def local_server(args: argparse.Namespace) -> Iterator[str]:
    """Run a server in this process for one job; yields its connection file."""
    from ..server.server import Server, ServerConfig

    with contextlib.ExitStack() as stack:
        data_dir = Path(args.data_dir) if args.data_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="distill3d-")))
        server = Server(ServerConfig(data_dir=data_dir, bind="tcp://127.0.0.1:0", device=args.device))
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
    camera_args = {
        key: value
        for key, value in {"elevation_deg": args.camera_elevation, "azimuth_deg": args.camera_azimuth,
                           "distance": args.camera_distance, "fov_deg": args.camera_fov}.items()
        if value is not None
    }  # fmt: skip
    try:
        camera = Camera(**camera_args) if camera_args else None
        return JobSpec(
            method=args.method, preset=args.preset, params=params, prompt=args.prompt or "",
            negative_prompt=args.negative_prompt or "", seed=args.seed, camera=camera, image=image,
            client_key=args.client_key,
        )
    except SchemaError as exc:
        raise UsageError(f"invalid job: {exc}") from None
