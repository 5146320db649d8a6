"""``distill3d serve``: run the backend (broker + worker processes)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from protocol.connection import default_data_dir

from .common import EXIT_OK, UsageError, parse_size


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the backend", description="Run the backend: broker + worker processes.")
    p.add_argument("--bind", default="tcp://127.0.0.1:5757", metavar="ADDR", help="endpoint to listen on (host:port or tcp://host:port; port 0 = any)")
    p.add_argument("--data-dir", metavar="DIR", help=f"job store and connection file (default: {default_data_dir()})")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", type=int, default=1, help="worker processes (one per GPU)")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads per worker on the CPU (default: the cores less one, "
                   "shared among the workers: threads that share a busy core crawl)")
    p.add_argument("--curve", action="store_true", help="encrypt traffic (CURVE); only holders of the connection file can connect")
    p.add_argument("--insecure", action="store_true", help="allow a network address without --curve")
    p.add_argument("--advertise-host", metavar="HOST", help="host written to the connection file when binding 0.0.0.0")
    p.add_argument("--new-key", action="store_true", help="make a new signing key (clients must re-read the connection file)")
    p.add_argument("--cancel-grace", type=float, default=10.0, metavar="SECONDS", help="kill a worker that ignores a cancel this long")
    p.add_argument("--worker-timeout", type=float, default=120.0, metavar="SECONDS",
                   help="kill a worker that says nothing this long while running a job (it sends a heartbeat every 2 s); "
                        "its job fails worker_unresponsive, or is queued again when its method resumes from checkpoints")
    p.add_argument("--max-disk", type=parse_size, metavar="SIZE",
                   help="disk quota of the job store (500M, 20G): finished jobs are deleted, oldest first, while it holds more "
                        "(never a job a client follows, or one that saved a generator)")
    p.add_argument("--keep-days", type=float, metavar="DAYS", help="delete finished jobs older than this (same exceptions)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..server.logs import rotating_log_handler
    from ..server.server import Server, ServerConfig

    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads must be in 1…1024, got {args.threads}")
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    logging.getLogger().addHandler(rotating_log_handler(data_dir / "logs" / "server.log"))
    config = ServerConfig(
        data_dir=data_dir, bind=args.bind, device=args.device, workers=args.workers, threads=args.threads, curve=args.curve, insecure=args.insecure,
        advertise_host=args.advertise_host, new_key=args.new_key, cancel_grace_s=args.cancel_grace, worker_timeout_s=args.worker_timeout,
        max_disk_bytes=args.max_disk, keep_days=args.keep_days, log_level=logging.getLogger().level,
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
