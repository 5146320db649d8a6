"""``distill3d bench protocol``: result transfer, event latency, broker memory under bad frames.

Everything runs on loopback against a real backend started for the run (its
own temporary data dir, the ``probe`` method, CPU worker). Transfer speed is
compared with raw pyzmq moving the same bytes in the same chunks with the same
window in the same run, so the ratio holds on any machine.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TextIO

import zmq
from PIL import Image

from protocol.buffers import Blob
from protocol.client import Client
from protocol.connection import ConnectionInfo, read_connection_file
from protocol.download import download
from protocol.errors import RemoteError
from protocol.framing import Framer
from protocol.messages import Events, GetJob, GetStats, ImageInput, JobInfo, JobSpec, Ping, Submit
from protocol.transport import HANDSHAKE_USER, handshake_password, prove_key

from ..table import print_table

WINDOW = 4
REPEATS = 3


def _start_backend(data_dir: Path) -> tuple[subprocess.Popen, ConnectionInfo]:
    env = dict(os.environ, DISTILL3D_PLUGINS="backend.bench.probe")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "--log-level", "ERROR", "serve", "--data-dir", str(data_dir),
         "--bind", "tcp://127.0.0.1:0", "--device", "cpu"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    path = data_dir / "connection.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"backend exited with {proc.returncode}")
        if path.exists():
            info = read_connection_file(path)
            if info.pid == proc.pid:
                return proc, info
        time.sleep(0.05)
    proc.kill()
    raise TimeoutError("backend did not start")


def _run_job(client: Client, **params: Any) -> JobInfo:
    job = client.request(Submit(job=JobSpec(method="probe", params=params), follow=False)).job  # type: ignore[attr-defined]
    while not job.state.finished:
        time.sleep(0.02)
        job = client.request(GetJob(job_id=job.job_id)).job  # type: ignore[attr-defined]
    if job.result is None:
        raise RuntimeError(f"probe job {job.job_id} {job.state.value}: {job.error}")
    return job


def _best_rate(nbytes: int, transfer: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        transfer()
        best = min(best, time.perf_counter() - started)
    return nbytes / best / 1e6


# ------------------------------------------------------------ raw baseline


def _raw_server(url_queue: Any, nbytes: int, chunk: int) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    url_queue.put(f"tcp://127.0.0.1:{port}")
    data = memoryview(os.urandom(nbytes))
    while True:
        peer, request = sock.recv_multipart()
        if request == b"stop":
            break
        index = int(request)
        sock.send_multipart([peer, request, data[index * chunk : (index + 1) * chunk]], copy=False)
    ctx.destroy(linger=0)


def _raw_rate(nbytes: int, chunk: int) -> float:
    """MB/s of plain pyzmq moving ``nbytes`` in ``chunk``-byte frames, ``WINDOW`` requests in flight, into one buffer."""
    spawn = multiprocessing.get_context("spawn")
    urls = spawn.Queue()
    server = spawn.Process(target=_raw_server, args=(urls, nbytes, chunk), daemon=True)
    server.start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.connect(urls.get(timeout=30))
    nchunks = -(-nbytes // chunk)

    def transfer() -> None:
        buffer = bytearray(nbytes)
        sent = received = 0
        while sent < min(WINDOW, nchunks):
            sock.send(str(sent).encode())
            sent += 1
        while received < nchunks:
            index, data = sock.recv_multipart(copy=False)
            start = int(index.bytes) * chunk
            buffer[start : start + len(data)] = data.buffer
            received += 1
            if sent < nchunks:
                sock.send(str(sent).encode())
                sent += 1

    try:
        return _best_rate(nbytes, transfer)
    finally:
        sock.send(b"stop")
        server.join(10)
        ctx.destroy(linger=0)


# ----------------------------------------------------------------- measures


def _transfer_rows(client: Client, sizes_mib: list[int]) -> list[tuple[str, ...]]:
    rows = []
    for size in sizes_mib:
        job = _run_job(client, steps=1, step_seconds=0.0, preview_every=0, payload_mib=size)
        manifest = job.result
        assert manifest is not None
        item = manifest.item("payload")
        ours = _best_rate(item.nbytes, lambda: download(client.request_async, job.job_id, manifest, items=["payload"], window=WINDOW))
        raw = _raw_rate(item.nbytes, manifest.chunk_bytes)
        rows.append((f"{size} MiB", f"{ours:,.0f}", f"{raw:,.0f}", f"{ours / raw:.2f}"))
    return rows


def _event_latency(client: Client, events: int) -> list[float]:
    """Seconds from the worker emitting each log event to this client taking it from its inbox."""
    job = client.request(Submit(job=JobSpec(method="probe", params={
        "steps": events, "step_seconds": 0.002, "log_every": 1, "preview_every": 0}), follow=True)).job  # type: ignore[attr-defined]
    latencies: list[float] = []
    finished = False
    while not finished:
        item = client.inbox.get(timeout=60)
        now = time.time()
        message = item.message
        if isinstance(message, Events) and message.job_id == job.job_id:
            latencies += [now - e.time for e in message.events if e.kind == "log"]
            finished = message.job is not None and message.job.state.finished
    return latencies


STRANGER_MESSAGES, STRANGER_PARTS, STRANGER_PART_MIB = 4, 8, 60
"""The stranger's flood: messages of this many parts of this size each, sent without the key (issue 17's attack: one
32 × 60 MiB message once took the broker from 67 to 1,987 MiB)."""


def _stranger_flood(info: ConnectionInfo, password: bytes | None) -> float:
    """Seconds spent offering :data:`STRANGER_MESSAGES` big multipart messages from a peer without the key (``password``:
    None for no credentials, else a PLAIN password that is not the backend's)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDTIMEO, 2000)
    if password is not None:
        sock.plain_username, sock.plain_password = HANDSHAKE_USER, password
    sock.connect(info.url)
    part = zmq.Frame(b"\0" * (STRANGER_PART_MIB << 20))
    start = time.perf_counter()
    for _ in range(STRANGER_MESSAGES):
        try:
            sock.send_multipart([part] * STRANGER_PARTS, copy=False)
        except zmq.Again:
            break
    time.sleep(1.0)  # what the backend would take in, it has taken by now
    ctx.destroy(linger=0)
    return time.perf_counter() - start


def _bad_frames(info: ConnectionInfo, count: int) -> tuple[list[tuple[str, int, int]], dict[str, int]]:
    """Broker RSS before and after each attack — ``count`` bad frames from a peer that passed the handshake, then the
    stranger's flood without credentials and with a wrong key — and what it counted as dropped."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if info.handshake_auth:
        prove_key(sock, info.key)
    sock.connect(info.url)
    framer = Framer(info.key)

    def stats() -> Any:
        from protocol.messages import ServerStats

        msg_id, frames = framer.encode(GetStats())
        sock.send_multipart(frames)
        while True:
            reply = sock.recv_multipart()
            try:
                envelope = framer.decode(reply)
            except Exception:
                continue
            if envelope.header.re == msg_id and isinstance(envelope.message, ServerStats):
                return envelope.message

    good = framer.encode(Ping())[1]
    kinds = [
        lambda: [os.urandom(64)],
        lambda: [good[0], os.urandom(32), *good[2:]],
        lambda: [b"D3DP\x07\x00", b"", b"", b""],
        lambda: [good[0], b"", os.urandom(4096), os.urandom(4096)],
    ]
    for i in range(1000):  # warm-up: let allocator pools settle
        sock.send_multipart(kinds[i % len(kinds)]())
    before = stats()
    for i in range(count):
        sock.send_multipart(kinds[i % len(kinds)]())
        while sock.poll(0):
            sock.recv_multipart()
    after = stats()
    rows = [(f"{count} bad frames (key holder's handshake)", before.rss_bytes, after.rss_bytes)]
    for label, password in (("no credentials", None), ("a wrong key", handshake_password(b"not the backend's key"))):
        ahead = stats()
        _stranger_flood(info, password)
        rows.append((f"stranger, {label}: {STRANGER_MESSAGES} × {STRANGER_PARTS} × {STRANGER_PART_MIB} MiB", ahead.rss_bytes, stats().rss_bytes))
    ctx.destroy(linger=0)
    dropped = {k: after.dropped.get(k, 0) - before.dropped.get(k, 0) for k in after.dropped}
    return rows, dropped


def progressive_jpeg(side: int, repeat_last_scan: int = 0) -> bytes:
    """A flat grey progressive JPEG (``side``²) with its last scan written ``repeat_last_scan`` more times: issue 17's
    upload, a few hundred KiB whose decoding cost grows with every scan."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (128, 128, 128)).save(buffer, format="JPEG", progressive=True)
    data = buffer.getvalue()
    last = data.rindex(b"\xff\xda")
    return data[:-2] + data[last:-2] * repeat_last_scan + data[-2:]


def _uploads(client: Client) -> list[tuple[str, ...]]:
    """Submit round trips of hostile and ordinary uploads, and a ping's right after each (what another client waits)."""
    webp = io.BytesIO()
    Image.new("RGB", (4096, 4096), "white").save(webp, format="WEBP", lossless=True)
    rows = []
    for label, data in (("4096² progressive JPEG, last scan ×300", progressive_jpeg(4096, 300)), ("4096² progressive JPEG", progressive_jpeg(4096)),
                        ("4096² WebP", webp.getvalue()), ("1024² progressive JPEG", progressive_jpeg(1024))):  # fmt: skip
        start = time.perf_counter()
        try:
            reply = client.request(Submit(job=JobSpec(method="probe", params={"steps": 1, "step_seconds": 0.0}, image=ImageInput(data=Blob(data))), follow=False))
            verdict = "accepted" if reply.created else "?"  # type: ignore[attr-defined]
        except RemoteError as exc:
            verdict = exc.code.value
        submit_ms = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        client.request(Ping())
        rows.append((label, f"{len(data) / 1024:,.0f}", f"{submit_ms:.1f}", f"{(time.perf_counter() - start) * 1e3:.1f}", verdict))
    return rows


def run_protocol_bench(sizes_mib: list[int], events: int, bad_frames: int, out: TextIO = sys.stdout) -> None:
    with tempfile.TemporaryDirectory(prefix="distill3d-bench-") as tmp:
        proc, info = _start_backend(Path(tmp) / "data")
        try:
            with Client(info, name="distill3d-bench") as client:
                client.wait_connected(30)
                _run_job(client, steps=1, step_seconds=0.0, preview_every=0)  # warm the worker
                transfer = _transfer_rows(client, sizes_mib)
                latencies = sorted(_event_latency(client, events))
                uploads = _uploads(client)
            memory, dropped = _bad_frames(info, bad_frames)
        finally:
            proc.terminate()
            proc.wait(30)
    cpus = os.cpu_count()
    print(f"distill3d bench protocol — loopback, {cpus} CPU cores, best of {REPEATS}, window {WINDOW}", file=out)
    print_table("Result transfer (signed, verified, reassembled) vs raw pyzmq (same chunks, same window)",
           ("result", "distill3d MB/s", "raw pyzmq MB/s", "ratio"), transfer, out)
    p50 = statistics.median(latencies) * 1e3
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1e3
    print_table("Event latency (worker emits → client inbox)", ("events", "p50 ms", "p99 ms", "max ms"),
           [(str(len(latencies)), f"{p50:.2f}", f"{p99:.2f}", f"{latencies[-1] * 1e3:.2f}")], out)
    print_table("Broker memory under attack", ("attack", "RSS before MiB", "RSS after MiB", "change MiB"),
           [(label, f"{before / 2**20:.1f}", f"{after / 2**20:.1f}", f"{(after - before) / 2**20:+.1f}") for label, before, after in memory], out)
    print(f"bad frames counted as dropped: {sum(dropped.values())}", file=out)
    print("dropped by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(dropped.items()) if v), file=out)
    print_table("Input images at submit (checked from headers; decoded in full up to 1024², else by the worker)",
                ("upload", "KiB", "submit ms", "ping after ms", "reply"), uploads, out)
