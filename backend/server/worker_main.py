"""The worker process: runs one job at a time, apart from the broker.

A CUDA crash, a segfault or an ``os._exit`` inside a method kills only this
process; the broker sees it die, fails the job with the reason and starts a new
worker. Messages to and from the broker are msgpack over pipes (never pickle):

- broker → worker: ``{"t": "run", "job_id", "job_dir"}``, ``{"t": "release"}``, ``{"t": "stop"}``
- worker → broker: ``{"t": "ready", "device"}``, ``{"t": "event", "job_id", "kind", "data", "payload", "time"}``,
  ``{"t": "finished", "job_id", "state", "error", "manifest"}``, ``{"t": "released"}``
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from protocol.codec import pack, unpack
from protocol.atomic import write_text
from protocol.errors import ErrorCode, ProtocolError, clip
from protocol.messages import Camera, Footprint, JobState
from protocol.schema import from_plain, to_plain

from .. import methods
from ..methods.base import JobContext, JobInputs, MethodError
from ..methods.configs import config_from_json, describe
from ..methods.footprints import measured_as, shipped, weights_bytes
from ..methods.progress import JobCancelled, ProgressReporter
from .disk import disk_full_error, is_disk_full
from .images import load_rgba
from .logs import rotating_log_handler
from .memory import is_out_of_memory, needed_bytes, out_of_memory_error, preflight_error, weights_error
from .results import write_result
from ..job_layout import GENERATOR_DIR, WORK_DIR

log = logging.getLogger(__name__)


HEARTBEAT_INTERVAL_S = 2.0
"""Seconds between a worker's "alive" messages."""
JOB_LOG = ProgressReporter.__module__
"""The logger of job log lines (:meth:`.ProgressReporter.log`), which also reach clients as job events."""


def resolve_device(preference: str, index: int, threads: int = 1) -> tuple[str, dict[str, Any]]:
    """``(torch device string, DeviceInfo fields)`` for ``auto``/``cpu``/``cuda``, with torch limited to ``threads``
    intra-op threads; imports torch only when needed (a ``cpu`` worker reports ready at once)."""
    limit_threads(threads)
    cpu = {"kind": "cpu", "name": f"{os.cpu_count()} CPU cores", "detail": f"{threads} thread{'s' if threads > 1 else ''} per worker"}
    if preference == "cpu":
        return "cpu", cpu
    import torch

    if torch.cuda.is_available():
        ordinal = index % torch.cuda.device_count()
        props = torch.cuda.get_device_properties(ordinal)
        return f"cuda:{ordinal}", {"kind": "cuda", "name": props.name, "memory_bytes": int(props.total_memory)}
    if preference == "cuda":
        return "", {"kind": "unavailable", "detail": "--device cuda was asked for, but torch sees no CUDA device"}
    return "cpu", cpu


def cuda_free_memory(device: str) -> tuple[int, int]:
    """``(free, total)`` bytes of the CUDA device ``device`` (``cuda:N``), as the driver counts them."""
    import torch

    free, total = torch.cuda.mem_get_info(torch.device(device))
    return int(free), int(total)


def shipped_footprints(method: str) -> tuple[Footprint, ...]:
    """The footprints recorded for ``method`` in the package's data file (:mod:`backend.methods.footprints`)."""
    return shipped().of(method)


def limit_threads(threads: int) -> None:
    """torch's intra-op threads: through the environment, which torch reads when it is imported, and directly when it
    already is."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class JobWorker:
    """Runs the jobs the broker sends this worker process, one at a time, and reports their events and ends."""

    def __init__(
        self,
        device: str,
        events: Connection,
        cancel: Any,
        *,
        free_memory: Callable[[str], tuple[int, int]] = cuda_free_memory,
        footprints: Callable[[str], tuple[Footprint, ...]] = shipped_footprints,
    ) -> None:
        self.device = device
        self.events = events
        self.cancel = cancel
        self.free_memory = free_memory
        """``(free, total)`` GPU bytes of a device: the probe of the preflight check (tests inject numbers)."""
        self.footprints = footprints
        """A method's recorded footprints: what the preflight check and the ``out_of_memory`` advice read."""
        self.methods: dict[str, Any] = {}
        self._sending = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        """Send one message to the broker (from the job's thread or the heartbeat's)."""
        data = pack(message)
        with self._sending:
            self.events.send_bytes(data)

    def beat(self, interval_s: float = HEARTBEAT_INTERVAL_S) -> None:
        """Tell the broker every ``interval_s`` that this process still runs (a stopped or frozen one falls silent and is
        killed, see :attr:`.server.ServerConfig.worker_timeout_s`); in a daemon thread."""

        def loop() -> None:
            while True:
                time.sleep(interval_s)
                try:
                    self.send({"t": "alive"})
                except (OSError, ValueError):  # the broker is gone
                    return

        threading.Thread(target=loop, name="heartbeat", daemon=True).start()

    def run(self, job_id: str, job_dir: Path) -> None:
        state, error, manifest = JobState.SUCCEEDED, None, None
        try:
            manifest = to_plain(self._run(job_id, job_dir))
        except JobCancelled:
            state = JobState.CANCELLED
        except MethodError as exc:
            state, error = JobState.FAILED, {"code": exc.code.value, "message": clip(str(exc))}
        except ProtocolError as exc:
            state, error = JobState.FAILED, {"code": exc.code.value, "message": exc.message}
        except Exception as exc:  # a full disk, or a bug in a method: keep the worker, keep the traceback
            state, error = JobState.FAILED, self._failure(job_id, job_dir, exc)
        if self.device.startswith("cuda"):  # what the job's tensors held goes back to the driver: a worker beside this one
            import torch  # on the same GPU sees it free in its preflight check

            torch.cuda.empty_cache()
        self.send({"t": "finished", "job_id": job_id, "state": state.value, "error": error, "manifest": manifest})

    @staticmethod
    def _failure(job_id: str, job_dir: Path, exc: Exception) -> dict[str, str]:
        """The error of a job that raised ``exc``: ``disk_full`` naming the data dir, or ``internal`` with the traceback
        saved beside the job (when the disk lets it: the log has it too)."""
        if is_disk_full(exc):
            log.error("job %s failed: the disk is full (%s)", job_id, exc)
            return {"code": ErrorCode.DISK_FULL.value, "message": disk_full_error(job_dir.parent.parent, f"job {job_id}'s files ({exc.filename or exc})").message}
        trace = traceback.format_exc()
        log.error("job %s failed:\n%s", job_id, trace)
        where = f" (traceback in {job_dir / 'traceback.txt'})"
        try:
            write_text(job_dir / "traceback.txt", trace)
        except OSError as write_failure:
            where = f" (traceback in the worker's log: {write_failure.strerror} writing traceback.txt)"
        return {"code": ErrorCode.INTERNAL.value, "message": clip(f"{type(exc).__name__}: {exc}", 2000) + where}

    def _run(self, job_id: str, job_dir: Path) -> Any:
        spec = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
        stored = json.loads((job_dir / "config.json").read_text(encoding="utf-8"))
        import numpy as np

        entry = methods.get(stored["method"])
        preset = str(stored.get("preset", ""))
        config = config_from_json(entry.config_class, stored["config"])
        image_file = spec.get("image_file")
        inputs = JobInputs(
            prompt=spec.get("prompt", ""),
            negative_prompt=spec.get("negative_prompt", ""),
            seed=int(spec["seed"]),
            camera=from_plain(Camera, spec["camera"]) if spec.get("camera") else None,
            image=load_rgba(str(job_dir / image_file)) if image_file else None,
            arrays={name: np.load(job_dir / file, allow_pickle=False) for name, file in spec.get("array_files", {}).items()},
        )

        def emit(kind: str, data: dict[str, Any], payload: bytes | None) -> None:
            self.send({"t": "event", "job_id": job_id, "kind": kind, "data": data, "payload": payload, "time": time.time()})

        reporter = ProgressReporter(emit, self.cancel.is_set)
        context = JobContext(
            job_id=job_id, device=self.device, work_dir=job_dir / WORK_DIR, reporter=reporter, generator_dir=job_dir / GENERATOR_DIR,
            generators=methods.generator_catalog(job_dir.parent),
        )  # fmt: skip
        if self.device.startswith("cuda"):
            measured = tuple(f for f in self.footprints(entry.name) if measured_as(entry, f, stored["config"]))
            self.preflight(entry.name, preset, entry.config_class, measured, weights_bytes(config))
        method = self.methods.get(entry.name)
        if method is None:
            method = self.methods[entry.name] = methods.create(entry.name)
        reporter.check_cancelled()
        ran_out = ""
        try:
            result = method.run(inputs, config, context)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            ran_out = f"{type(exc).__name__}: {exc}"  # only text: the traceback's frames hold the job's tensors
        if ran_out:
            method = None  # this frame's reference would keep the method's models alive through the release
            raise self._recovered_from_out_of_memory(entry.name, preset, entry.config_class, ran_out)
        reporter.check_cancelled()
        return write_result(job_dir / "result", result)

    def preflight(self, method: str, preset: str, config_class: type, footprints: tuple[Footprint, ...], weights: int = 0) -> None:
        """Refuse (``out_of_memory``) a job that cannot fit in the GPU memory that is free: by its recorded CUDA peak (among
        ``footprints``: those measured with the job's configuration, :func:`~backend.methods.footprints.measured_as`), else
        by ``weights``, what its models' weights alone take (:func:`~.memory.weights_error`). When it does not fit beside
        the models this worker keeps from earlier jobs, they are released and it is checked again. A job with neither a
        recorded peak nor models is never refused."""
        recorded = needed_bytes(footprints, preset, "cuda") is not None
        if not recorded and weights <= 0:
            return
        params = describe(config_class)

        def check() -> MethodError | None:
            free = self.free_memory(self.device)
            if recorded:
                return preflight_error(method, preset, footprints, params, *free)
            return weights_error(method, preset, weights, footprints, params, *free)

        error = check()
        if error is not None and self.methods:
            log.info("%s preset %s does not fit beside the cached models; releasing them", method, preset)
            self.release()
            error = check()
        if error is not None:
            log.warning("refused a job before it ran: %s", error)
            raise error

    def _recovered_from_out_of_memory(self, method: str, preset: str, config_class: type, what: str) -> MethodError:
        """Release every cached model after a job ran out of memory (so the next job starts clean) and return the job's
        ``out_of_memory`` error, with the memory free afterwards on CUDA and the advice."""
        log.warning("job ran out of memory (%s); releasing cached models", what)
        self.release()
        free = self.free_memory(self.device)[0] if self.device.startswith("cuda") else None
        return out_of_memory_error(method, preset, self.device, self.footprints(method), describe(config_class), free, what)

    def release(self) -> None:
        """Forget cached method instances (and their models) and return GPU memory."""
        self.methods.clear()
        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def _log_handlers(log_file: str | None, console_level: int | None) -> list[logging.Handler]:
    """stderr, from ``console_level`` up and without job log lines when it is given (see
    :attr:`.server.ServerConfig.worker_console_level`), and ``log_file``, with every record."""
    console = logging.StreamHandler()
    if console_level is not None:
        console.setLevel(console_level)
        console.addFilter(lambda record: record.name != JOB_LOG)
    return [console, *([rotating_log_handler(Path(log_file))] if log_file else [])]


def _exit_with_parent(parent_pid: int, interval_s: float = 1.0) -> None:
    """Die with the broker: a worker orphaned by a killed broker must not go on writing into the store."""

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def worker_main(
    index: int,
    device_preference: str,
    commands: Connection,
    events: Connection,
    cancel: Any,
    log_level: int,
    log_file: str | None,
    console_level: int | None,
    threads: int = 1,
) -> None:
    """Entry point of a worker process (started with the ``spawn`` method); logs to stderr and ``log_file``; torch runs
    ``threads`` intra-op threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the broker, which stops us in order
    _exit_with_parent(os.getppid())
    handlers = _log_handlers(log_file, console_level)
    logging.basicConfig(level=log_level, handlers=handlers, format=f"%(asctime)s worker[{index}] %(levelname)s %(name)s: %(message)s")
    try:
        device, device_info = resolve_device(device_preference, index, threads)
    except Exception as exc:  # e.g. a broken CUDA install
        device, device_info = "", {"kind": "unavailable", "detail": f"{type(exc).__name__}: {exc}"}
    worker = JobWorker(device, events, cancel)
    worker.send({"t": "ready", "device": device_info})
    worker.beat()
    while True:
        try:
            message = unpack(commands.recv_bytes())
        except EOFError:  # the broker is gone
            return
        kind = message.get("t")
        if kind == "run":
            worker.run(message["job_id"], Path(message["job_dir"]))
        elif kind == "release":
            worker.release()
            worker.send({"t": "released"})
        elif kind == "stop":
            return
