"""``distill3d models`` (every pretrained model: where it resolves, its state, size on disk and licence) and
``distill3d models pull`` (fetch models from the Hugging Face hub); no server needed."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from .common import EXIT_JOB_FAILED, EXIT_OK, EXIT_USAGE, UsageError


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="show every pretrained model: where it resolves, whether it is on disk, its size and licence (no server needed)",
                       description="Show every pretrained model, or fetch some with `distill3d models pull`.")  # fmt: skip
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_list)
    commands = p.add_subparsers(dest="models_command", metavar="COMMAND")
    pull = commands.add_parser(
        "pull", help="fetch models from the Hugging Face hub into the place the registry looks for them",
        description="Fetch what each model's loader reads (fp16 weights where the repo has them) from the Hugging Face hub: "
        "into the hub cache for a role that resolves to a hub id, into the role's folder for one pointed at a folder. "
        "The licences are shown and the free disk space checked before anything is fetched; an interrupted pull keeps "
        "what it fetched, mid-file too: the next pull continues from there.",
    )  # fmt: skip
    pull.add_argument("roles", nargs="*", metavar="ROLE", help="model roles (see `distill3d models`)")
    pull.add_argument("--method", help="pull the models a job of this method needs")
    pull.add_argument("--preset", help="with --method: the preset whose job is meant (default: the method's default preset)")
    pull.add_argument("--token", help="a Hugging Face access token, for gated models (default: $HF_TOKEN, else the one `hf auth login` stored)")
    pull.add_argument("--endpoint", help="the hub's URL, e.g. a mirror's (default: $HF_ENDPOINT, else https://huggingface.co)")
    pull.add_argument("--progress-json", action="store_true",
                      help="print the progress as JSON lines on stdout instead of text and bars (what the backend reads when a client "
                      "asks it to pull)")  # fmt: skip
    pull.set_defaults(func=run_pull)


def run_list(args: argparse.Namespace) -> int:
    from protocol.sizes import human_size

    from ..teachers import registry

    try:
        resolutions = [registry.resolve(role) for role in registry.ROLES]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        rows = []
        for r in resolutions:
            role = registry.ROLES[r.role]
            rows.append({"role": r.role, "reference": r.reference, "source": r.source, "state": r.state, "present": r.present,
                         "path": None if r.path is None else str(r.path), "bytes_on_disk": r.bytes_on_disk(), "used_by": role.used_by,
                         "licence": {"name": role.licence.name, "url": role.licence.url}, "gated": role.gated,
                         "download_size": role.download_size, "kept_bytes": r.kept_bytes(),
                         "how_to_obtain": None if r.present else r.how_to_obtain()})  # fmt: skip
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"models config: {registry.config_path()}{'' if registry.config_path().is_file() else ' (not present)'}")
    for r in resolutions:
        role = registry.ROLES[r.role]
        where = f", {human_size(r.bytes_on_disk())} on disk at {r.found}" if r.found else ""
        print(f"{r.role}: {r.state}{where}")
        print(f"  {role.description}; used by {role.used_by}")
        print(f"  resolves to {r.reference} (from {r.source})")
        gated = "; gated: accept the licence on the hub and pull with a token" if role.gated else ""
        print(f"  licence: {role.licence.name} ({role.licence.url}); download about {human_size(role.download_size)}{gated}")
        if not r.present:
            print(f"  to get it: {r.how_to_obtain()}")
        if kept := r.kept_bytes():
            print(f"  a stopped pull left {human_size(kept)} of it: `distill3d models pull {r.role}` continues from there")
    missing = sum(not r.present for r in resolutions)
    print(f"{len(resolutions) - missing} of {len(resolutions)} models present"
          + ("; a job whose method needs a missing one is refused when it is submitted" if missing else ""))  # fmt: skip
    return EXIT_OK


def run_pull(args: argparse.Namespace) -> int:
    from .. import methods
    from ..methods.configs import required_models
    from ..teachers import pull
    from ..teachers.pull_progress import JsonLinesWatcher

    if args.preset and not args.method:
        raise UsageError("--preset needs --method")
    roles = list(args.roles) + list(required_models(methods.get(args.method), args.preset) if args.method else ())
    if not roles:
        if args.method:
            print(f"a {args.method} job with preset {args.preset or '(the default)'} needs no pretrained models")
            return EXIT_OK
        raise UsageError("name the models to pull (ROLE..., see `distill3d models`) or a method (--method M [--preset P])")
    watcher = JsonLinesWatcher(sys.stdout) if args.progress_json else None
    signal.signal(signal.SIGTERM, _interrupt)  # a terminated pull unwinds like Ctrl-C: the partial file is closed whole
    try:
        resolutions = pull.pull(roles, pull.Hub.create(args.endpoint, args.token), watcher.say if watcher else print, watcher)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except pull.PullError as exc:
        if watcher is not None:
            watcher.failed(str(exc))
        print(f"distill3d: {exc}", file=sys.stderr)
        return EXIT_JOB_FAILED
    if watcher is not None:
        watcher.finished([r.role for r in resolutions if r.present], [r.role for r in resolutions if not r.present])
    return EXIT_OK if all(r.present for r in resolutions) else EXIT_JOB_FAILED


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
