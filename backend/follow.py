"""Following a job from the command line: progress bar, previews saved to disk, result fetched."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from protocol.buffers import WireArray
from protocol.client import Client, ConnectionState
from protocol.download import download
from protocol.errors import ProtocolError
from protocol.messages import Attach, Cancel, Error, Events, JobInfo, JobState, Preview, Progress, ResultManifest
from protocol.schema import from_plain

log = logging.getLogger(__name__)

GLB_MEDIA_TYPE = "model/gltf-binary"
GENERATOR_ITEM_PREFIX = "generator."
"""Result files of a generator-distilling job (``generator.json``, ``generator.safetensors``): a generator folder's contents."""


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA --:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"ETA {hours}:{minutes:02d}:{secs:02d}" if hours else f"ETA {minutes:02d}:{secs:02d}"


class ProgressDisplay:
    """One progress bar per stage on a terminal; otherwise (logs, CI) a line per stage and every ``line_every_s``."""

    def __init__(self, stream: Any = sys.stderr, line_every_s: float = 10.0) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.line_every_s = line_every_s
        self._bar: Any = None
        self._stage: str | None = None
        self._last_line = 0.0

    def update(self, progress: Progress) -> None:
        if progress.stage != self._stage:
            self.close()
            self._stage = progress.stage
            if self.tty:
                from tqdm import tqdm

                self._bar = tqdm(total=progress.total or None, desc=progress.stage or "running", file=self.stream,
                                 leave=True, dynamic_ncols=True, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {postfix}")
            else:
                print(f"stage {progress.stage or 'running'}: {progress.total} steps", file=self.stream, flush=True)
                self._last_line = time.monotonic()
        if self._bar is None and time.monotonic() - self._last_line >= self.line_every_s:
            self._last_line = time.monotonic()
            print(f"{progress.stage} {progress.step}/{progress.total} ({progress.fraction:.0%} of the job) "
                  f"{format_eta(progress.eta_s)}", file=self.stream, flush=True)
        if self._bar is not None:
            if progress.total and self._bar.total != progress.total:
                self._bar.total = progress.total
            self._bar.n = progress.step
            self._bar.set_postfix_str(f"{format_eta(progress.eta_s)} {progress.message}".strip(), refresh=True)

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def save_result(files: dict[str, bytes | WireArray], manifest: ResultManifest, out: Path) -> list[Path]:
    """Write a fetched result: the GLB item to ``out``, arrays to ``<out>.arrays.npz``, a generator's files (``generator.*``)
    into the folder ``<out>.generator/``, other files beside it."""
    import numpy as np

    out.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    arrays = {name: value.to_numpy() for name, value in files.items() if isinstance(value, WireArray)}
    glb = next((i.name for i in manifest.items if i.media_type == GLB_MEDIA_TYPE), None)
    for name, value in files.items():
        if isinstance(value, WireArray):
            continue
        path = out if name == glb else out.with_name(f"{out.stem}.{name}")
        if name.startswith(GENERATOR_ITEM_PREFIX):  # a distilled generator's files make the folder OUT.generator/
            path = out.with_name(f"{out.stem}.generator") / name
            path.parent.mkdir(exist_ok=True)
        path.write_bytes(value)
        written.append(path)
    if arrays:
        path = out.with_name(f"{out.stem}.arrays.npz")
        np.savez(path, **arrays)
        written.append(path)
    return written


def follow_job(
    client: Client,
    job_id: str,
    *,
    out: Path | None,
    since_seq: int = 0,
    save_previews: bool = True,
    cancel_on_interrupt: bool = True,
    display: ProgressDisplay | None = None,
) -> JobInfo:
    """Stream a job until it ends; save previews beside ``out`` and the result to ``out``.

    Returns the final :class:`JobInfo`. Ctrl-C cancels the job (``cancel_on_interrupt``) or just stops following.
    """
    display = display or ProgressDisplay()
    preview_dir = out.with_name(f"{out.stem}.previews") if (out is not None and save_previews) else None
    job: JobInfo = client.request(Attach(job_id=job_id, since_seq=since_seq, follow=True)).job  # type: ignore[attr-defined]
    interrupted = False
    try:
        while not job.state.finished or (client.last_seq(job_id) or 0) < job.last_seq:
            try:
                job = _drain(client, job, display, preview_dir)
            except KeyboardInterrupt:
                if not cancel_on_interrupt or interrupted:
                    raise
                interrupted = True
                display.note(f"cancelling job {job_id} (Ctrl-C again to stop waiting)")
                client.request(Cancel(job_id=job_id))
    finally:
        display.close()
    if job.state is JobState.SUCCEEDED and out is not None and job.result is not None:
        started = time.monotonic()
        files = download(client.request_async, job_id, job.result)
        written = save_result(files, job.result, out)
        size = sum(p.stat().st_size for p in written)
        display.note(f"fetched {size / 1e6:.1f} MB in {time.monotonic() - started:.2f} s: " + ", ".join(map(str, written)))
    return job


def _drain(client: Client, job: JobInfo, display: ProgressDisplay, preview_dir: Path | None) -> JobInfo:
    for item in client.poll() or _wait_one(client):
        message = item.message
        if item.kind == "status" and item.status is not None:
            if item.status.state is ConnectionState.OFFLINE:
                display.note(f"backend offline: {item.status.reason}")
        elif isinstance(message, Events) and message.job_id == job.job_id:
            for event in message.events:
                if event.kind == "progress":
                    display.update(from_plain(Progress, event.data))
                elif event.kind == "log":
                    display.note(f"[{event.data.get('level', 'info')}] {event.data.get('message', '')}")
            if message.job is not None:
                job = message.job
        elif isinstance(message, Preview) and message.job_id == job.job_id and preview_dir is not None:
            preview_dir.mkdir(parents=True, exist_ok=True)
            extension = "png" if message.info.media_type == "image/png" else "jpg"
            (preview_dir / f"preview-{message.info.seq:06d}.{extension}").write_bytes(bytes(message.image))
        elif isinstance(message, Error) and message.details.get("job_id") == job.job_id:
            raise ProtocolError(message.code, message.message)
    return job


def _wait_one(client: Client) -> list[Any]:
    import queue

    try:
        return [client.inbox.get(timeout=0.5)]
    except queue.Empty:
        return []
