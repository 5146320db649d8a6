"""The add-on's connection to a backend, free of ``bpy``: requests, followed jobs, downloads, interpolation.

The ZeroMQ socket lives on :class:`protocol.client.Client`'s background thread and
result downloads run on a small thread pool; :meth:`Session.poll`, called from
Blender's main thread, turns what arrived into :class:`Outcome` records that the
``bpy`` side (:mod:`.apply`) applies. Replies are matched by request id and pushes
by job id: anything this session did not ask for — a reply to a request from an
earlier connection, events of a job nobody here follows, an interpolation answer
older than the mesh on screen — is dropped.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .mesh_data import BlenderMesh, prepare_result
from .wire import client as wire_client
from .wire import download as wire_download
from .wire import buffers, errors, messages

log = logging.getLogger(__name__)

PURPOSES = ("generate", "variants", "interpolate", "keep")
"""Why a job was submitted: an asset, a batch of variants, a scrub preview, a kept interpolation."""
PULL_POLL_S = 0.5
"""While the backend pulls models, how often the session asks how far it is."""


@dataclass
class TrackedJob:
    """A job this session follows."""

    job_id: str
    purpose: str
    """One of :data:`PURPOSES`."""
    info: Any = None
    """The newest ``JobInfo`` the backend sent."""
    context: dict[str, Any] = field(default_factory=dict)
    """What the submitter needs at import time (object name, interpolation t, latents, …)."""
    generation: int = 0
    """For interpolation previews: the order in which they were asked for."""
    downloading: bool = False
    done: bool = False
    """Its result was handed over (or it failed / was cancelled)."""


@dataclass(frozen=True)
class Outcome:
    """Something the ``bpy`` side must show: ``kind`` is ``status``, ``job``, ``preview``, ``result``, ``failed``, ``error`` or
    ``models`` (the backend's models or its pull changed: :attr:`Session.models`, :attr:`Session.pull`)."""

    kind: str
    job: TrackedJob | None = None
    message: str = ""
    preview: bytes = b""
    media_type: str = ""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    meshes: dict[str, BlenderMesh] = field(default_factory=dict)
    """The result's meshes by item prefix, laid out for Blender on the download thread (see ``mesh_data``)."""


@dataclass
class _Interpolation:
    generator: str
    latent_a: np.ndarray
    latent_b: np.ndarray
    t: float
    changed_at: float
    conditions: tuple[np.ndarray, np.ndarray] | None = None
    """The ends' conditions (prompt embeddings) for a prompt-conditioned generator such as PRD's; None otherwise."""


def interpolation_arrays(latent_a: np.ndarray, latent_b: np.ndarray, conditions: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
    """The job arrays of an ``interpolate`` job: the ends' latents, and their conditions when the generator takes a prompt."""
    arrays = {"latent_a": buffers.WireArray.from_numpy(np.asarray(latent_a, np.float32)),
              "latent_b": buffers.WireArray.from_numpy(np.asarray(latent_b, np.float32))}  # fmt: skip
    if conditions is not None:
        arrays.update({f"condition_{end}": buffers.WireArray.from_numpy(np.asarray(c, np.float32)) for end, c in zip("ab", conditions)})
    return arrays


def needed_items(manifest: Any) -> list[str]:
    """The result items the add-on imports: everything but the GLBs, which it needs only when there are no mesh arrays."""
    names = [item.name for item in manifest.items]
    if any(name.endswith("positions") for name in names):
        return [name for name in names if not name.endswith(".glb")]
    return names


class Session:
    """One backend connection and the jobs followed through it."""

    def __init__(self, info: Any, *, debounce_s: float = 0.05, download_timeout_s: float = 120.0) -> None:
        self.client = wire_client.Client(info, name="distill3d-blender").start()
        self.jobs: dict[str, TrackedJob] = {}
        self.debounce_s = debounce_s
        self.download_timeout_s = download_timeout_s
        self._pending: dict[str, tuple[str, dict[str, Any]]] = {}
        """request id → (request kind or purpose, context)"""
        self._downloads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="distill3d-download")
        self._downloaded: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._ready: deque[Outcome] = deque()
        self._interpolation: _Interpolation | None = None
        self._interp_sent_t: float | None = None
        """t of the newest interpolation job asked for"""
        self._interp_generation = 0
        self.interp_shown = 0
        """Generation of the interpolation mesh on screen; older answers are dropped."""
        self.models: dict[str, Any] = {}
        """The backend's pretrained models (``ModelInfo``) by role, as last listed (empty before the first answer)."""
        self.pull: Any = None
        """The backend's running (or last) model pull (``PullInfo``), None before any."""
        self.models_error = ""
        """Why the backend could not list its models (an older backend, a broken models config); empty when it did."""
        self._models_asked_at: float | None = None
        """When models were last asked for (None: never, since connecting)."""
        self._closed = False

    # --------------------------------------------------------------- state

    @property
    def status(self) -> Any:
        return self.client.status

    @property
    def connected(self) -> bool:
        return self.client.status.state is wire_client.ConnectionState.CONNECTED

    def methods(self, role: str | None = None) -> tuple[Any, ...]:
        """The backend's methods (``MethodInfo``), those of ``role`` only when given; () before the first welcome."""
        welcome = self.client.status.welcome
        found = welcome.methods if welcome is not None else ()
        return tuple(m for m in found if role is None or m.role == role)

    def method(self, name: str) -> Any | None:
        return next((m for m in self.methods() if m.name == name), None)

    def models_for(self, method: str, preset: str = "") -> tuple[str, tuple[Any, ...]]:
        """``(preset, models)``: the preset meant (``preset``, else the method's default) and the ``ModelInfo`` of every
        model a job of it needs (a role the backend has not listed yet is left out)."""
        info = self.method(method)
        if info is None:
            return preset, ()
        preset = preset or info.default_preset
        return preset, tuple(self.models[role] for role in info.models.get(preset, ()) if role in self.models)

    def pulling(self) -> bool:
        return self.pull is not None and self.pull.state == "running"

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()
            self._downloads.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ requests

    def submit(self, spec: Any, purpose: str, **context: Any) -> str:
        """Submit a job (``JobSpec``) and follow it; returns the request id."""
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}")
        request_id = self.client.send(messages.Submit(job=spec, follow=True))
        self._pending[request_id] = (purpose, context)
        return request_id

    def attach(self, job_id: str, purpose: str, **context: Any) -> str:
        """Follow a job submitted earlier (e.g. before Blender restarted): its state, missed events, preview, result."""
        self.jobs.setdefault(job_id, TrackedJob(job_id, purpose, context=context))
        request_id = self.client.send(messages.Attach(job_id=job_id, since_seq=0, follow=True))
        self._pending[request_id] = ("attach", {"job_id": job_id})
        return request_id

    def cancel(self, job_id: str) -> str:
        request_id = self.client.send(messages.Cancel(job_id=job_id))
        self._pending[request_id] = ("cancel", {"job_id": job_id})
        return request_id

    def list_models(self) -> str:
        """Ask for the backend's models and its pull (answered as a ``models`` outcome)."""
        self._models_asked_at = time.monotonic()
        request_id = self.client.send(messages.ListModels())
        self._pending[request_id] = ("models", {})
        return request_id

    def pull_models(self, roles: tuple[str, ...], token: str | None = None) -> str:
        """Have the backend fetch ``roles`` (``token``: for gated models); its progress arrives as ``models`` outcomes."""
        request_id = self.client.send(messages.PullModels(roles=tuple(roles), token=token or None))
        self._pending[request_id] = ("pull", {})
        return request_id

    def cancel_pull(self) -> str:
        request_id = self.client.send(messages.CancelPull())
        self._pending[request_id] = ("pull", {})
        return request_id

    def interpolate(self, generator: str, latent_a: np.ndarray, latent_b: np.ndarray, t: float,
                    conditions: tuple[np.ndarray, np.ndarray] | None = None) -> None:  # fmt: skip
        """Ask for the preview mesh at ``t`` (with the ends' ``conditions`` for a prompt-conditioned generator); sent by
        :meth:`poll` once the slider rests for ``debounce_s`` and the previous answer is in, so a fast scrub sends few jobs
        and always ends on the latest t."""
        ends = None if conditions is None else tuple(np.asarray(c, np.float32) for c in conditions)
        self._interpolation = _Interpolation(generator, np.asarray(latent_a, np.float32), np.asarray(latent_b, np.float32), float(t),
                                             time.monotonic(), ends)  # fmt: skip

    # -------------------------------------------------------------- polling

    def poll(self, limit: int | None = None) -> list[Outcome]:
        """What arrived since the last call (at most ``limit`` outcomes; the rest wait for the next call)."""
        for incoming in self.client.poll():
            self._on_incoming(incoming)
        while True:
            try:
                self._on_downloaded(self._downloaded.get_nowait())
            except queue.Empty:
                break
        self._send_interpolation()
        self._follow_models()
        out: list[Outcome] = []
        while self._ready and (limit is None or len(out) < limit):
            out.append(self._ready.popleft())
        return out

    def busy(self) -> bool:
        """Work is still under way (requests unanswered, jobs running, downloads, a pending scrub)."""
        unsent = self._interpolation is not None and self._interp_sent_t != self._interpolation.t
        return bool(self._pending or self._ready or unsent or any(not j.done for j in self.jobs.values()))

    def _follow_models(self) -> None:
        """Models are listed once connected, and again every :data:`PULL_POLL_S` while a pull runs."""
        if not self.connected or any(kind == "models" for kind, _ in self._pending.values()):
            return
        if self._models_asked_at is None or (self.pulling() and time.monotonic() - self._models_asked_at >= PULL_POLL_S):
            self.list_models()

    def _emit(self, kind: str, job: TrackedJob | None = None, **fields: Any) -> None:
        self._ready.append(Outcome(kind, job, **fields))

    def _on_incoming(self, incoming: Any) -> None:
        if incoming.kind == "status":
            if not self.connected:
                self._models_asked_at = None  # list them again on reconnecting (the backend may have restarted)
            self._emit("status", message=incoming.status.reason)
        elif incoming.kind == "reply":
            self._on_reply(incoming.request_id, incoming.message)
        elif isinstance(incoming.message, messages.Events):
            self._on_events(incoming.message)
        elif isinstance(incoming.message, messages.Preview):
            job = self.jobs.get(incoming.message.job_id)
            if job is not None and not job.done:
                self._emit("preview", job, preview=bytes(incoming.message.image), media_type=incoming.message.info.media_type)
        elif isinstance(incoming.message, messages.Error):
            job = self.jobs.get(str(incoming.message.details.get("job_id", "")))
            if job is not None:  # a followed job the backend no longer knows
                self._finish(job, "failed", incoming.message.message)
            else:
                self._emit("error", message=incoming.message.message)

    def _on_reply(self, request_id: str, message: Any) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is None:
            log.debug("dropped a reply to request %s, which this session did not send", request_id)
            return
        kind, context = entry
        if isinstance(message, messages.Error):
            job = self.jobs.get(context.get("job_id", ""))
            if kind == "attach" and job is not None:
                self._finish(job, "failed", message.message)
            else:
                self._emit("error", job, message=f"{kind}: {message.message}")
            if kind == "models":
                self.models_error = message.message
            if message.code is errors.ErrorCode.MISSING_MODEL and kind in PURPOSES:
                self.list_models()  # the panel shows what is missing, with its size and licence, and offers to pull it
            return
        if isinstance(message, messages.ModelList):
            self.models, self.pull, self.models_error = {m.role: m for m in message.models}, message.pull, ""
            self._emit("models")
            return
        if isinstance(message, messages.PullStatus):
            self.pull = message.pull
            self._emit("models")
            return
        if isinstance(message, messages.Submitted):
            job = self.jobs.setdefault(message.job.job_id, TrackedJob(message.job.job_id, kind, context=context, generation=context.get("generation", 0)))
            self._update(job, message.job)
        elif isinstance(message, messages.JobStatus):
            job = self.jobs.get(message.job.job_id)
            if job is not None:
                self._update(job, message.job)

    def _on_events(self, events: Any) -> None:
        job = self.jobs.get(events.job_id)
        if job is not None and events.job is not None:
            self._update(job, events.job)

    def _update(self, job: TrackedJob, info: Any) -> None:
        job.info = info
        if job.done:
            return
        self._emit("job", job)
        if info.state is messages.JobState.SUCCEEDED and info.result is not None and not job.downloading:
            if job.purpose == "interpolate" and job.generation < self.interp_shown:
                self._finish(job, "dropped", "a newer interpolation is already shown")
                return
            job.downloading = True
            self._downloads.submit(self._download, job, info.result)
        elif info.state in (messages.JobState.FAILED, messages.JobState.CANCELLED):
            reason = info.error.message if info.error is not None else info.state.value
            self._finish(job, "failed", reason)

    def _finish(self, job: TrackedJob, outcome: str, message: str) -> None:
        job.done = True
        if outcome != "dropped":
            self._emit("failed", job, message=message)

    def _download(self, job: TrackedJob, manifest: Any) -> None:
        """(Download thread.) Fetch the result (its GLB only when it has no mesh arrays); hand it over through the queue."""
        try:
            items = wire_download.download(self.client.request_async, job.job_id, manifest, items=needed_items(manifest), timeout=self.download_timeout_s)
            arrays = {k: np.asarray(v.to_numpy()) for k, v in items.items() if not isinstance(v, bytes)}
            files = {k: v for k, v in items.items() if isinstance(v, bytes)}
        except (errors.ProtocolError, OSError, ValueError) as exc:
            self._downloaded.put(Outcome("failed", job, message=f"could not fetch the result: {exc}"))
            return
        try:
            meshes = prepare_result(arrays, files)
        except ValueError as exc:
            self._downloaded.put(Outcome("failed", job, message=f"the result's mesh is malformed: {exc}"))
            return
        self._downloaded.put(Outcome("result", job, arrays=arrays, files=files, meshes=meshes))

    def _on_downloaded(self, outcome: Any) -> None:
        job = outcome.job
        if job.done:
            return
        job.done = True
        if job.purpose == "interpolate":
            if job.generation < self.interp_shown:
                return
            self.interp_shown = job.generation
        self._ready.append(outcome)

    def _interpolation_in_flight(self) -> bool:
        """An interpolation job is asked for and not yet answered, running, or downloading."""
        return any(kind == "interpolate" for kind, _ in self._pending.values()) or any(
            job.purpose == "interpolate" and not job.done for job in self.jobs.values()
        )

    def _send_interpolation(self) -> None:
        wanted = self._interpolation
        if wanted is None or self._interpolation_in_flight() or not self.connected or self._interp_sent_t == wanted.t:
            return
        if time.monotonic() - wanted.changed_at < self.debounce_s:
            return
        self._interp_generation += 1
        spec = messages.JobSpec(
            method="interpolate",
            params={"generator": wanted.generator, "t": wanted.t, "quality": "preview"},
            arrays=interpolation_arrays(wanted.latent_a, wanted.latent_b, wanted.conditions),
        )
        self._interp_sent_t = wanted.t
        self.submit(spec, "interpolate", t=wanted.t, generation=self._interp_generation)
