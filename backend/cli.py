"""The ``distill3d`` command."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from protocol import __version__
from protocol.buffers import Blob
from protocol.client import Client
from protocol.connection import ConnectionFileError, ConnectionInfo, default_connection_file, default_data_dir, read_connection_file
from protocol.errors import ProtocolError
from protocol.messages import (
    Camera,
    Cancel,
    ImageInput,
    JobSpec,
    JobState,
    ListJobs,
    MethodInfo,
    Submit,
    Welcome,
)
from protocol.schema import SchemaError

log = logging.getLogger("distill3d")

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input or an unreachable backend: printed without a traceback, exit code 2."""


# ------------------------------------------------------------------ commands


def cmd_serve(args: argparse.Namespace) -> int:
    from .server.server import Server, ServerConfig

    from .server.logs import rotating_log_handler

    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    logging.getLogger().addHandler(rotating_log_handler(data_dir / "logs" / "server.log"))
    config = ServerConfig(
        data_dir=data_dir, bind=args.bind, device=args.device, workers=args.workers, curve=args.curve, insecure=args.insecure,
        advertise_host=args.advertise_host, new_key=args.new_key, cancel_grace_s=args.cancel_grace,
        log_level=logging.getLogger().level,
    )
    server = Server(config)
    server.stop_on_signals()
    try:
        server.start()
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    print(f"listening on {server.connection.url}; connection file: {server.connection_file}", file=sys.stderr, flush=True)
    server.run()
    return EXIT_OK


def cmd_world(args: argparse.Namespace) -> int:
    """Write a member of a synthetic family as a GLB (a target for the synthetic teacher, no weights needed)."""
    import torch

    from .teachers.synthetic.families import family
    from .teachers.synthetic.glb_io import export_scene

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


def _load_generator(args: argparse.Namespace):
    from .generators import GeneratorError, load

    jobs_dir = (Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()) / "jobs"
    try:
        return load(args.generator, jobs_dir, args.device)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None


def _write_made(made: list, out: Path) -> int:
    from .generators import GeneratorError
    from .generators.tools import write

    try:
        written = write(made, out)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None
    for item in made:
        if item.asset is None:
            print(f"no mesh for {item.name}: {item.facts['empty']}", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    """N variants of a generator as GLBs, their latents and a PNG sheet (no server needed)."""
    from .generators import GeneratorError
    from .generators.tools import sample

    generator = _load_generator(args)
    try:
        made = sample(generator, args.n, args.seed, args.truncation, args.quality)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None
    return _write_made(made, Path(args.out))


def cmd_interpolate(args: argparse.Namespace) -> int:
    """Meshes evenly spaced between two seeds' latents (no server needed)."""
    from .generators import GeneratorError
    from .generators.tools import interpolate

    generator = _load_generator(args)
    try:
        made = interpolate(generator, args.seeds[0], args.seeds[1], args.steps, args.truncation, args.space, args.quality)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None
    return _write_made(made, Path(args.out))


def cmd_invert(args: argparse.Namespace) -> int:
    """The latent of a CAD generator that best reproduces an image, and its mesh (no server needed)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from .methods.cad.invert import InversionConfig, invert_image

    generator = _load_generator(args)
    try:
        image = Image.open(args.image)
        image.load()
    except (OSError, UnidentifiedImageError) as exc:
        raise UsageError(f"cannot read --image {args.image}: {exc}") from None
    try:
        result, asset = invert_image(generator, image, args.camera_elevation, InversionConfig(space=args.space, steps=args.steps))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(asset.to_glb())
    latent = out.with_name(f"{out.stem}.latent.npy")
    np.save(latent, result.latent)
    render = out.with_name(f"{out.stem}.render.png")
    Image.fromarray((result.image.permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")).save(render)
    print(f"wrote {out}, {latent} and {render} (loss {result.losses[0]:.4f} → {result.losses[-1]:.4f})")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    """Distil a CAD generator in this process (no server); under ``torchrun`` every process trains a share of each batch."""
    from .methods import get
    from .methods.cad.distributed import run_training
    from .methods.configs import describe, parse_cli_value, resolve

    params: dict[str, Any] = {"prior": args.prior, "family": args.family}
    types = {info.name: info.type for info in describe(get("cad").config_class)}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes key=value, got {item!r}")
        params[key.strip()] = parse_cli_value(value, types.get(key.strip()))
    try:
        _, config = resolve(get("cad"), args.preset, params)
    except (ProtocolError, SchemaError) as exc:
        raise UsageError(f"invalid parameters: {exc}") from None
    return run_training(config, Path(args.out), Path(args.work) if args.work else None, args.seed, args.device, args.elevation)


def cmd_methods(args: argparse.Namespace) -> int:
    from .methods import entries
    from .methods.configs import describe

    found = entries()
    if args.json:
        from protocol.schema import to_plain

        print(json.dumps([{"name": e.name, "description": e.description, "presets": sorted(e.presets),
                           "default_preset": e.default_preset, "params": to_plain(describe(e.config_class))} for e in found], indent=2))
        return EXIT_OK
    if not found:
        print("no methods are installed in this backend")
    for entry in found:
        print(f"{entry.name}: {entry.description}")
        print(f"  presets: {', '.join(sorted(entry.presets))} (default {entry.default_preset})")
        for info in describe(entry.config_class):
            bounds = ""
            if info.minimum is not None or info.maximum is not None:
                bounds = f" [{'' if info.minimum is None else info.minimum}..{'' if info.maximum is None else info.maximum}]"
            print(f"  --set {info.name}={json.dumps(info.default)}  ({info.type}{bounds}) {info.doc}")
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from .teachers import registry

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


def cmd_info(args: argparse.Namespace) -> int:
    with _connected(args) as (client, welcome):
        print(f"backend {welcome.server_version} at {client.info.url}, protocol {'.'.join(map(str, welcome.protocol_version))}")
        for device in welcome.devices:
            memory = f", {device.memory_bytes / 2**30:.0f} GiB" if device.memory_bytes else ""
            print(f"  device: {device.kind} {device.name}{memory} {device.detail}".rstrip())
        names = ", ".join(m.name for m in welcome.methods) or "none installed"
        print(f"  methods: {names}")
    return EXIT_OK


def cmd_jobs(args: argparse.Namespace) -> int:
    with _connected(args) as (client, _):
        reply = client.request(ListJobs(limit=args.limit, states=tuple(JobState(s) for s in args.state or ())))
        for job in reply.jobs:  # type: ignore[attr-defined]
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at))
            progress = ""
            if job.state is JobState.RUNNING and job.progress is not None:
                progress = f" {job.progress.stage} {job.progress.step}/{job.progress.total}"
            error = f" — {job.error.message}" if job.error else ""
            print(f"{job.job_id}  {created}  {job.method:<8} {job.preset:<8} {job.state.value:<9}{progress}{error}")
        print(f"{len(reply.jobs)} of {reply.total} job(s)", file=sys.stderr)  # type: ignore[attr-defined]
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    with _connected(args) as (client, _):
        job = client.request(Cancel(job_id=args.job_id)).job  # type: ignore[attr-defined]
        note = " (cancel requested; it stops at its next step)" if job.state is JobState.RUNNING else ""
        print(f"{job.job_id}: {job.state.value}{note}")
    return EXIT_OK


def cmd_attach(args: argparse.Namespace) -> int:
    from .follow import follow_job

    with _connected(args) as (client, _):
        out = Path(args.out) if args.out else None
        job = follow_job(client, args.job_id, out=out, cancel_on_interrupt=False)
        return _report(job)


def cmd_generate(args: argparse.Namespace) -> int:
    from .follow import follow_job

    out = Path(args.out)
    with contextlib.ExitStack() as stack:
        if args.local:
            args.connect = stack.enter_context(_local_server(args))
        client, welcome = stack.enter_context(_connected(args))
        spec = _job_spec(args, _method_info(welcome, args.method))
        reply = client.request(Submit(job=spec, follow=False))
        job = reply.job  # type: ignore[attr-defined]
        verb = "submitted" if reply.created else "already known (same client key)"  # type: ignore[attr-defined]
        print(f"job {job.job_id} {verb}: {job.method}/{job.preset}, seed {job.seed}", file=sys.stderr)
        job = follow_job(client, job.job_id, out=out, save_previews=not args.no_previews)
        return _report(job)


def cmd_bench_protocol(args: argparse.Namespace) -> int:
    from .bench.protocol_bench import run_protocol_bench

    run_protocol_bench(sizes_mib=args.sizes, events=args.events, bad_frames=args.bad_frames)
    return EXIT_OK


def cmd_bench_dtc123(args: argparse.Namespace) -> int:
    from .bench.dtc123_bench import run_dtc123_bench

    run_dtc123_bench(args.presets, args.iterations, args.device, args.teachers)
    return EXIT_OK


def cmd_bench_cad(args: argparse.Namespace) -> int:
    from .bench.cad_bench import run_cad_bench

    run_cad_bench(args.presets, args.steps, args.device, None if args.generator == "none" else args.generator, args.repeats)
    return EXIT_OK


def cmd_bench_export(args: argparse.Namespace) -> int:
    from .bench.export_bench import run_export_bench

    if len(args.faces) != len(args.resolutions):
        raise UsageError("give one --resolutions entry per --faces entry")
    run_export_bench(args.faces, args.resolutions, None if args.skip_usual else args.usual_resolution, args.repeats, args.texture)
    return EXIT_OK


def cmd_bench_render(args: argparse.Namespace) -> int:
    from .bench.render_bench import run_render_bench

    run_render_bench(args.resolutions, args.hashgrid_max, args.faces, args.repeats, args.device)
    return EXIT_OK


def cmd_bench_blender_import(args: argparse.Namespace) -> int:
    from .bench.blender_import_bench import run_blender_import_bench

    run_blender_import_bench(args.faces, args.resolution, args.repeats)
    return EXIT_OK


# ------------------------------------------------------------------- helpers


def _report(job: Any) -> int:
    if job.state is JobState.SUCCEEDED:
        print(f"job {job.job_id} succeeded", file=sys.stderr)
        return EXIT_OK
    reason = f": {job.error.message}" if job.error else ""
    print(f"job {job.job_id} {job.state.value}{reason}", file=sys.stderr)
    return EXIT_JOB_FAILED


def _connection(args: argparse.Namespace) -> ConnectionInfo:
    path = Path(args.connect) if args.connect else default_connection_file()
    try:
        return read_connection_file(path)
    except ConnectionFileError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def _connected(args: argparse.Namespace) -> Iterator[tuple[Client, Welcome]]:
    client = Client(_connection(args), name=f"distill3d-cli/{__version__}").start()
    try:
        try:
            status = client.wait_connected(args.timeout)
        except ProtocolError as exc:
            raise UsageError(exc.message) from None
        assert status.welcome is not None
        yield client, status.welcome
    finally:
        client.close()


@contextlib.contextmanager
def _local_server(args: argparse.Namespace) -> Iterator[str]:
    """Run a server in this process for one job; yields its connection file."""
    from .server.server import Server, ServerConfig

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


def _method_info(welcome: Welcome, name: str) -> MethodInfo | None:
    return next((m for m in welcome.methods if m.name == name), None)


def _job_spec(args: argparse.Namespace, method: MethodInfo | None) -> JobSpec:
    from .methods.configs import parse_cli_value

    types = {p.name: p.type for p in method.params} if method else {}
    params: dict[str, Any] = {}
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes key=value, got {item!r}")
        params[key.strip()] = parse_cli_value(value, types.get(key.strip()))
    if args.teacher:
        params["teacher"] = args.teacher
    if args.target:
        params["target"] = str(Path(args.target).expanduser().resolve())  # the backend may run elsewhere on this machine
    if args.prior:
        params["prior"] = args.prior
    if args.family:
        folder = Path(args.family).expanduser()
        params["family"] = str(folder.resolve()) if folder.is_dir() else args.family
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
    }
    try:
        camera = Camera(**camera_args) if camera_args else None
        return JobSpec(
            method=args.method, preset=args.preset, params=params, prompt=args.prompt or "",
            negative_prompt=args.negative_prompt or "", seed=args.seed, camera=camera, image=image,
            client_key=args.client_key,
        )
    except SchemaError as exc:
        raise UsageError(f"invalid job: {exc}") from None


# -------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distill3d", description="Image, camera and prompt to a textured mesh.")
    parser.add_argument("--version", action="version", version=f"distill3d {__version__}")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="default: INFO for serve, WARNING for client commands")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def client_command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--connect", metavar="CONNECTION_FILE",
                       help=f"the backend's connection file (default: {default_connection_file()})")
        p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the backend (default 10)")
        return p

    p = sub.add_parser("serve", help="run the backend", description="Run the backend: broker + worker processes.")
    p.add_argument("--bind", default="tcp://127.0.0.1:5757", metavar="ADDR", help="endpoint to listen on (host:port or tcp://host:port; port 0 = any)")
    p.add_argument("--data-dir", metavar="DIR", help=f"job store and connection file (default: {default_data_dir()})")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=1, help="worker processes (one per GPU)")
    p.add_argument("--curve", action="store_true", help="encrypt traffic (CURVE); only holders of the connection file can connect")
    p.add_argument("--insecure", action="store_true", help="allow a network address without --curve")
    p.add_argument("--advertise-host", metavar="HOST", help="host written to the connection file when binding 0.0.0.0")
    p.add_argument("--new-key", action="store_true", help="make a new signing key (clients must re-read the connection file)")
    p.add_argument("--cancel-grace", type=float, default=10.0, metavar="SECONDS", help="kill a worker that ignores a cancel this long")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("world", help="write a member of a synthetic family as a GLB (no server needed)")
    p.add_argument("family", help="snowman, mushroom, table or ring_on_cube")
    p.add_argument("--seed", type=int, default=0, help="which member")
    p.add_argument("--out", required=True, metavar="OBJECT.glb")
    p.set_defaults(func=cmd_world)

    def generator_command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--generator", required=True, metavar="G", help="a generator folder (OUT.generator/), a job id on this machine's backend, or 'demo[:family]'")
        p.add_argument("--data-dir", metavar="DIR", help=f"the backend's data directory, for job ids (default: {default_data_dir()})")
        p.add_argument("--device", default="cpu", help="torch device (default cpu)")
        return p

    p = generator_command("sample", "write N variants of a generator as GLBs, with their latents and a PNG sheet (no server needed)")
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--seed", type=int, default=0, help="first seed; variant k uses seed + k")
    p.add_argument("--truncation", type=float, default=0.7, metavar="PSI", help="ψ in [0, 1]: smaller stays nearer the average object (default 0.7)")
    p.add_argument("--quality", choices=["full", "preview"], default="full")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_sample)

    p = generator_command("interpolate", "write meshes evenly spaced between two seeds' latents (no server needed)")
    p.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("A", "B"))
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--space", choices=["w", "z"], default="w", help="a line in w (default) or a great circle in z")
    p.add_argument("--truncation", type=float, default=0.7, metavar="PSI")
    p.add_argument("--quality", choices=["full", "preview"], default="preview")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=cmd_interpolate)

    p = generator_command("invert", "find the latent of a CAD generator that reproduces an image; write its mesh (no server needed)")
    p.add_argument("--image", required=True, metavar="IMG")
    p.add_argument("--camera-elevation", type=float, metavar="DEG", help="elevation of the image's camera (azimuth is the reference's, 180°; "
                   "default: the elevation of the reference the generator was distilled from)")
    p.add_argument("--space", choices=["w", "w+"], default="w+")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--out", required=True, metavar="OUT.glb")
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("train", help="distil a CAD generator here, without a server (runs under torchrun for several GPUs)")
    p.add_argument("--prior", default="synthetic", choices=["synthetic", "zero123"])
    p.add_argument("--family", default="", help="with the synthetic prior: a built-in family or a folder of GLB files")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--elevation", type=float, default=None, metavar="DEG", help="reference elevation (default: the config's)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--work", metavar="DIR", help="prior cache and checkpoints, to resume (default: OUT.work beside OUT)")
    p.add_argument("--out", required=True, metavar="DIR.generator")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("methods", help="list methods, presets and parameters (no server needed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("models", help="show every pretrained model, where it resolves and whether it is on disk (no server needed)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = client_command("info", "show the backend's version, devices and methods")
    p.set_defaults(func=cmd_info)

    p = client_command("generate", "submit a job, show its progress, save previews and the result")
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
    p.add_argument("--teacher", metavar="NAME", help="shortcut for --set teacher=NAME (e.g. 'synthetic': no weights)")
    p.add_argument("--target", metavar="OBJECT.glb", help="shortcut for --set target=PATH: the object the synthetic teacher knows")
    p.add_argument("--prior", metavar="NAME", help="CAD: shortcut for --set prior=NAME ('synthetic': no weights)")
    p.add_argument("--family", metavar="FAMILY", help="CAD with --prior synthetic: a built-in family name or a folder of GLB files")
    p.add_argument("--client-key", metavar="KEY", help="idempotency key: re-running with it returns the same job")
    p.add_argument("--out", required=True, metavar="OUT.glb")
    p.add_argument("--no-previews", action="store_true", help="do not save previews beside the output")
    p.add_argument("--local", action="store_true", help="start a backend in this process for this job")
    p.add_argument("--data-dir", metavar="DIR", help="with --local: job store (default: a temporary folder)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="with --local: device")
    p.set_defaults(func=cmd_generate)

    p = client_command("jobs", "list jobs, newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--state", action="append", choices=[s.value for s in JobState])
    p.set_defaults(func=cmd_jobs)

    p = client_command("attach", "follow a job (events it missed, then live) and fetch its result")
    p.add_argument("job_id")
    p.add_argument("--out", metavar="OUT.glb", help="where to save the result")
    p.set_defaults(func=cmd_attach)

    p = client_command("cancel", "cancel a job")
    p.add_argument("job_id")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("bench", help="benchmarks that print a table")
    bench = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    b = bench.add_parser("protocol", help="result transfer, event latency, broker memory under bad frames")
    b.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 64], metavar="MIB")
    b.add_argument("--events", type=int, default=2000, help="progress events to time")
    b.add_argument("--bad-frames", type=int, default=10_000)
    b.set_defaults(func=cmd_bench_protocol)
    b = bench.add_parser("export", help="marching cubes + UVs + bake + GLB, ours against the usual path")
    b.add_argument("--faces", type=int, nargs="+", default=[20_000, 200_000], help="target face counts of our path")
    b.add_argument("--resolutions", type=int, nargs="+", default=[128, 256], help="marching-cubes resolution per target")
    b.add_argument("--usual-resolution", type=int, default=256, help="marching-cubes resolution of the usual path")
    b.add_argument("--skip-usual", action="store_true", help="do not run the usual path (minutes on a small CPU)")
    b.add_argument("--texture", type=int, default=1024, help="texture side, texels")
    b.add_argument("--repeats", type=int, default=3)
    b.set_defaults(func=cmd_bench_export)
    b = bench.add_parser("render", help="volume-render and rasterise throughput")
    b.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 512])
    b.add_argument("--hashgrid-max", type=int, default=128, help="largest image for the hash-grid field")
    b.add_argument("--faces", type=int, default=100_000, help="faces of the rasterised mesh")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.set_defaults(func=cmd_bench_render)
    b = bench.add_parser("cad", help="CAD training steps/s per stage and preset; sample latency and interpolation updates/s")
    b.add_argument("--presets", nargs="+", default=["tiny", "paper"])
    b.add_argument("--steps", type=int, default=3, help="timed training steps per stage and preset")
    b.add_argument("--generator", default="shipped", help="generator folder to time sampling on ('shipped': the demo generator; 'none': skip)")
    b.add_argument("--repeats", type=int, default=5, help="preview meshes timed")
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.set_defaults(func=cmd_bench_cad)
    b = bench.add_parser("dtc123", help="DTC123 seconds per iteration per stage and projected total per preset")
    b.add_argument("--presets", nargs="+", default=["tiny", "fast", "paper"])
    b.add_argument("--iterations", type=int, default=8, help="timed iterations per stage and preset")
    b.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    b.add_argument("--teachers", default="synthetic", choices=["synthetic", "random"],
                   help="synthetic: the ground truth teaches; random: full-size random-weight Zero123-XL + SD 2 (for a GPU)")
    b.set_defaults(func=cmd_bench_dtc123)
    b = bench.add_parser("blender-import", help="textured mesh into Blender: arrays + foreach_set vs the glTF importer")
    b.add_argument("--faces", type=int, default=200_000, help="faces of the imported mesh")
    b.add_argument("--resolution", type=int, default=256, help="marching-cubes resolution of the asset")
    b.add_argument("--repeats", type=int, default=3)
    b.set_defaults(func=cmd_bench_blender_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.command == "serve" else "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except UsageError as exc:
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


if __name__ == "__main__":
    sys.exit(main())
