"""``distill3d info``, ``jobs``, ``attach`` and ``cancel``: a running backend and its jobs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from protocol.client import Client
from protocol.messages import Cancel, DeviceInfo, Hello, JobState, ListJobs, PruneJobs, Welcome

from .common import EXIT_OK, UsageError, client_arguments, connected, parse_size, report

DEVICE_POLL_S = 0.25
"""Seconds between two questions to a backend whose workers are still starting."""


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show the backend's version, devices and methods", description="Show the backend's version, devices and methods.")
    client_arguments(p)
    p.add_argument("--device-wait", type=float, default=10.0, metavar="SECONDS",
                   help="wait this long for workers still starting to report their device (default 10; 0: do not wait)")
    p.set_defaults(func=run_info)
    p = sub.add_parser("jobs", help="list jobs, newest first", description="List jobs, newest first.")
    client_arguments(p)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--state", action="append", choices=[s.value for s in JobState])
    p.add_argument("--prune", action="store_true", help="delete finished jobs, oldest first, per --max-disk / --keep-days "
                   "(never a job a client follows, or one that saved a generator), then list")
    p.add_argument("--max-disk", type=parse_size, metavar="SIZE", help="with --prune: the job store's quota (500M, 20G)")
    p.add_argument("--keep-days", type=float, metavar="DAYS", help="with --prune: delete finished jobs older than this")
    p.set_defaults(func=run_jobs)
    p = sub.add_parser("attach", help="follow a job (events it missed, then live) and fetch its result",
                       description="Follow a job (events it missed, then live) and fetch its result.")  # fmt: skip
    client_arguments(p)
    p.add_argument("job_id")
    p.add_argument("--out", metavar="OUT.glb", help="where to save the result")
    p.set_defaults(func=run_attach)
    p = sub.add_parser("cancel", help="cancel a job", description="Cancel a job.")
    client_arguments(p)
    p.add_argument("job_id")
    p.set_defaults(func=run_cancel)


def run_info(args: argparse.Namespace) -> int:
    with connected(args) as (client, welcome):
        welcome = with_devices_known(client, welcome, args.device_wait)
        print(f"backend {welcome.server_version} at {client.info.url}, protocol {'.'.join(map(str, welcome.protocol_version))}")
        for device in welcome.devices:
            print(f"  device: {describe_device(device)}")
        names = ", ".join(m.name for m in welcome.methods) or "none installed"
        print(f"  methods: {names}")
    return EXIT_OK


def with_devices_known(client: Client, welcome: Welcome, wait_s: float) -> Welcome:
    """``welcome``, or a newer one (a new hello every :data:`DEVICE_POLL_S`) once no worker is starting, or after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while any(device.kind == "starting" for device in welcome.devices) and time.monotonic() < deadline:
        time.sleep(DEVICE_POLL_S)
        welcome = client.request(Hello(client=client.name))  # type: ignore[assignment]
    return welcome


def describe_device(device: DeviceInfo) -> str:
    """A worker's device for a person: kind, name, memory and detail, or that its worker has not reported it yet."""
    if device.kind == "starting":
        return "worker starting (not known yet)"
    memory = f", {device.memory_bytes / 2**30:.0f} GiB" if device.memory_bytes else ""
    return f"{device.kind} {device.name}{memory}" + (f", {device.detail}" if device.detail else "")


def run_jobs(args: argparse.Namespace) -> int:
    if args.prune and args.max_disk is None and args.keep_days is None:
        raise UsageError("--prune needs --max-disk SIZE and/or --keep-days DAYS")
    if not args.prune and (args.max_disk is not None or args.keep_days is not None):
        raise UsageError("--max-disk and --keep-days go with --prune")
    with connected(args) as (client, _):
        if args.prune:
            pruned = client.request(PruneJobs(max_bytes=args.max_disk, keep_days=args.keep_days))
            print(f"pruned {len(pruned.job_ids)} finished job(s), {pruned.freed_bytes / 2**20:.1f} MiB; "  # type: ignore[attr-defined]
                  f"the store holds {pruned.kept_bytes / 2**20:.1f} MiB", file=sys.stderr)  # type: ignore[attr-defined]
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


def run_cancel(args: argparse.Namespace) -> int:
    with connected(args) as (client, _):
        job = client.request(Cancel(job_id=args.job_id)).job  # type: ignore[attr-defined]
        note = " (cancel requested; it stops at its next step)" if job.state is JobState.RUNNING else ""
        print(f"{job.job_id}: {job.state.value}{note}")
    return EXIT_OK


def run_attach(args: argparse.Namespace) -> int:
    from ..follow import follow_job

    with connected(args) as (client, _):
        out = Path(args.out) if args.out else None
        return report(follow_job(client, args.job_id, out=out, cancel_on_interrupt=False))
