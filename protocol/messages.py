"""Every message of protocol version 1, as validated frozen records.

Requests go client → backend and each gets exactly one reply (its ``Reply``
class, or :class:`Error`). Pushes (:class:`Events`, :class:`Preview`) go
backend → client for the jobs a client follows.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from .buffers import Blob, WireArray
from .errors import MAX_ERROR_CHARS, ErrorCode, clip
from .schema import Plain, Record, SchemaError, from_plain, param

PROTOCOL_VERSION = (1, 0)
"""(major, minor): a different major is refused, a newer minor accepted."""

ID_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
"""Job ids, request ids, method, preset and result item names: no path separators."""
NAME_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
MAX_PROMPT_CHARS = 1000
MAX_PARAMS = 256
MAX_SEED = 2**32 - 1

ParamValue = bool | int | float | str | list[bool | int | float | str] | None
"""A job parameter value as it crosses the wire (config fields are typed on the backend)."""


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


_registry: dict[str, type["Message"]] = {}


class Message(Record):
    """Base of all messages; ``TYPE`` is the wire name."""

    TYPE: ClassVar[str] = ""

    def __init_subclass__(cls, type: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if type:
            if type in _registry:
                raise RuntimeError(f"message type {type!r} defined twice")
            cls.TYPE = type
            _registry[type] = cls


class Request(Message):
    """A message that expects one reply of class ``Reply`` (or :class:`Error`)."""

    Reply: ClassVar[type[Message]]


def message_class(type_name: str) -> type[Message] | None:
    """The message class registered for a wire type name, or None."""
    return _registry.get(type_name)


def parse_message(type_name: str, body: Any, buffers: list[Any]) -> Message:
    """Build the message named by the header from its decoded body; raises SchemaError/KeyError."""
    cls = _registry.get(type_name)
    if cls is None:
        raise KeyError(type_name)
    return from_plain(cls, body, buffers)


# ----------------------------------------------------------------- shared parts


@dataclass(frozen=True)
class Camera(Record):
    """A camera on a sphere around the object, looking at the origin (DESIGN: our convention)."""

    elevation_deg: float = param(0.0, doc="Elevation above the horizontal plane, degrees.", ge=-90.0, le=90.0)
    azimuth_deg: float = param(0.0, doc="Azimuth around the up axis, degrees.", ge=-360.0, le=360.0)
    distance: float = param(2.0, doc="Distance from the origin, scene units.", gt=0.0, le=100.0)
    fov_deg: float = param(49.1, doc="Vertical field of view, degrees.", gt=1.0, lt=179.0)


@dataclass(frozen=True)
class ImageInput(Record):
    """An encoded image file (PNG, JPEG or WebP) uploaded with a job."""

    data: Blob = param(doc="The encoded file's bytes.")
    name: str = param("image", doc="File name, for the job's records only.", max_len=256)


@dataclass(frozen=True)
class JobSpec(Record):
    """What to generate: everything a submit carries."""

    method: str = param(doc="Registered method name (see Welcome.methods).", pattern=NAME_PATTERN)
    preset: str | None = param(None, doc="Named preset of the method; None picks its default.", pattern=NAME_PATTERN)
    params: dict[str, ParamValue] = param(
        factory=dict, doc="Config overrides, dotted names as in ParamInfo.name.", max_len=MAX_PARAMS
    )
    prompt: str = param("", doc="Text prompt.", max_len=MAX_PROMPT_CHARS)
    negative_prompt: str = param("", doc="Negative prompt.", max_len=MAX_PROMPT_CHARS)
    seed: int | None = param(None, doc="Random seed; None lets the backend choose and record one.", ge=0, le=MAX_SEED)
    camera: Camera | None = param(None, doc="Camera of the input image.")
    image: ImageInput | None = param(None, doc="Input image.")
    arrays: dict[str, WireArray] = param(
        factory=dict, doc="Named array inputs for methods that take them (masks, latents).", max_len=16
    )
    client_key: str | None = param(
        None, doc="Idempotency key: a second submit with the same key returns the same job.", pattern=ID_PATTERN
    )

    def check(self) -> None:
        for name in self.arrays:
            if not re.fullmatch(ID_PATTERN, name):
                raise SchemaError(f"arrays.{name[:64]}", f"array names must match {ID_PATTERN}")
        for name in ("prompt", "negative_prompt"):
            if any(ord(c) < 32 and c not in "\n\t" for c in getattr(self, name)):
                raise SchemaError(name, "contains control characters")


class _ClippedMessage(Record):
    """Error texts may quote what a peer sent: they are cut to length, never refused for it."""

    def __post_init__(self) -> None:
        message = getattr(self, "message")
        if isinstance(message, str):
            object.__setattr__(self, "message", clip(message))
        super().__post_init__()


@dataclass(frozen=True)
class ErrorInfo(_ClippedMessage):
    code: ErrorCode
    message: str = param(max_len=MAX_ERROR_CHARS)


@dataclass(frozen=True)
class Progress(Record):
    """Where a running job is."""

    stage: str = param("", doc="Stage name, e.g. 'coarse'.", max_len=64)
    step: int = param(0, doc="Steps done in this stage.", ge=0)
    total: int = param(0, doc="Steps in this stage (0 when unknown).", ge=0)
    fraction: float = param(0.0, doc="Fraction of the whole job done, 0..1.", ge=0.0, le=1.0)
    eta_s: float | None = param(None, doc="Seconds until the job is done, when known.", ge=0.0)
    message: str = param("", doc="A short status line.", max_len=500)


@dataclass(frozen=True)
class ResultItem(Record):
    """One named piece of a result: a typed array or a file."""

    name: str = param(pattern=ID_PATTERN)
    kind: str = param(doc="'array' or 'file'.", choices=("array", "file"))
    nbytes: int = param(ge=0)
    nchunks: int = param(doc="Chunks to fetch (FetchResult.chunk is 0..nchunks-1).", ge=0)
    media_type: str = param("application/octet-stream", max_len=100)
    dtype: str | None = param(None, doc="For arrays: numpy dtype.str, little-endian.", max_len=8)
    shape: tuple[int, ...] | None = param(None, doc="For arrays: the shape.", ge=0, max_len=8)


@dataclass(frozen=True)
class ResultManifest(Record):
    items: tuple[ResultItem, ...] = param(max_len=1024, doc="At most 1024: room for 64 variants of nine items each (geometry, edges, UVs or colours, latent, texture, GLB).")
    chunk_bytes: int = param(doc="Bytes per chunk (the last chunk of an item may be shorter).", gt=0)
    metadata: dict[str, Plain] = param(factory=dict, doc="Method-specific facts about the result.")

    def item(self, name: str) -> ResultItem:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True)
class PreviewInfo(Record):
    seq: int = param(doc="Sequence number of the preview's event.", ge=1)
    media_type: str = param(choices=("image/png", "image/jpeg"))
    width: int = param(ge=1)
    height: int = param(ge=1)


@dataclass(frozen=True)
class JobInfo(Record):
    """A job as the backend sees it now."""

    job_id: str = param(pattern=ID_PATTERN)
    method: str = param(pattern=NAME_PATTERN)
    preset: str = param(pattern=NAME_PATTERN)
    state: JobState
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    last_seq: int = param(0, doc="Sequence number of the job's latest event.", ge=0)
    progress: Progress | None = None
    error: ErrorInfo | None = None
    preview: PreviewInfo | None = None
    result: ResultManifest | None = None
    cancel_requested: bool = False
    client_key: str | None = None
    prompt: str = param("", max_len=MAX_PROMPT_CHARS)
    seed: int = param(0, ge=0, le=MAX_SEED)


@dataclass(frozen=True)
class Event(Record):
    """One entry of a job's event log."""

    seq: int = param(doc="Per-job sequence number, from 1, without gaps.", ge=1)
    time: float
    kind: str = param(doc="'state', 'progress', 'preview', 'log' or 'result'.", max_len=32)
    data: dict[str, Plain] = param(factory=dict)


@dataclass(frozen=True)
class ParamInfo(Record):
    """One config field of a method, for building a UI."""

    name: str = param(doc="Dotted name, as used in JobSpec.params.", max_len=128)
    type: str = param(doc="'bool', 'int', 'float', 'str' or 'list'.", max_len=32)
    default: Plain = None
    doc: str = param("", max_len=2000)
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[Plain, ...] | None = None


@dataclass(frozen=True)
class Footprint(Record):
    """What one job of a method's preset took on one kind of device, as measured by ``distill3d bench footprint``."""

    preset: str = param(doc="The preset the job ran with.", pattern=NAME_PATTERN)
    device: str = param(doc="'cpu' or 'cuda': the kind of device it ran on.", max_len=32)
    peak_bytes: int = param(doc="Peak memory of the job, bytes: on CUDA torch's peak reserved memory (what had to be free); "
                            "on the CPU the peak resident memory of its process less baseline_bytes.", ge=0)
    seconds: float = param(doc="Wall seconds of the job (projected from its first steps when 'projected').", ge=0.0)
    device_name: str = param("", doc="The device it ran on, e.g. 'NVIDIA H100 80GB HBM3' or '2 CPU cores'.", max_len=200)
    baseline_bytes: int = param(0, doc="CPU: resident bytes of the process with its imports, before the job; CUDA: 0.", ge=0)
    projected: bool = param(False, doc="The job was stopped after its first steps: seconds is extrapolated from its progress.")
    measured_with: str = param("", doc="The command that measured it.", max_len=2000)
    measured_on: str = param("", doc="When: ISO date (UTC).", max_len=64)
    torch_version: str = param("", doc="torch's version in the measuring process.", max_len=64)
    note: str = param("", doc="What else a reader must know (inputs, departures).", max_len=2000)
    params: dict[str, Plain] = param(factory=dict, doc="The config overrides (--set) it was measured with, beside its preset: "
                                     "it is the footprint of a job configured so.", max_len=256)  # fmt: skip


@dataclass(frozen=True)
class MethodInfo(Record):
    name: str = param(pattern=NAME_PATTERN)
    description: str = param(max_len=2000)
    presets: tuple[str, ...] = param(max_len=64)
    default_preset: str = param(pattern=NAME_PATTERN)
    params: tuple[ParamInfo, ...] = param(max_len=1000)
    needs_image: bool = False
    needs_prompt: bool = False
    role: str = param("generate", doc="'generate' (makes an asset from inputs) or 'generator' (samples a 3D generator: variants, interpolate).", max_len=32)
    footprints: tuple[Footprint, ...] = param((), doc="Recorded memory and time per preset and device kind (none: not measured).", max_len=256)
    models: dict[str, tuple[str, ...]] = param(
        factory=dict, doc="Preset → the pretrained models (ModelInfo.role) a job with it needs; a preset not listed needs none.", max_len=64
    )


@dataclass(frozen=True)
class DeviceInfo(Record):
    kind: str = param(doc="'cpu', 'cuda', 'starting' or 'unavailable'.", max_len=32)
    name: str = param("", max_len=200)
    memory_bytes: int | None = None
    detail: str = param("", max_len=2000)


MODEL_STATES = ("present", "partial", "missing")
PULL_STATES = ("running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class ModelInfo(Record):
    """One pretrained model (a registry role) as the backend sees it on its disk."""

    role: str = param(doc="Registry role, e.g. 'zero123' (what MethodInfo.models and PullModels name).", pattern=NAME_PATTERN)
    state: str = param(doc="'present', 'partial' (an incomplete download) or 'missing'.", choices=MODEL_STATES)
    reference: str = param(doc="The hub id or folder it resolves to.", max_len=1000)
    licence: str = param(doc="The licence's id, e.g. 'openrail++'.", max_len=200)
    licence_url: str = param(doc="Where to read the licence.", max_len=1000)
    description: str = param("", max_len=500)
    gated: bool = param(False, doc="The hub serves it only to a user who accepted the licence (a token is needed).")
    download_bytes: int = param(0, doc="About how much a pull fetches.", ge=0)
    bytes_on_disk: int = param(0, doc="What its files take on the backend's disk now.", ge=0)
    kept_bytes: int = param(0, doc="What a stopped pull fetched of it and left for the next pull to continue.", ge=0)
    how_to_obtain: str = param("", doc="For a model not present: what to do, in a sentence.", max_len=2000)


@dataclass(frozen=True)
class PullInfo(Record):
    """A model pull the backend runs (``distill3d models pull`` in a child process)."""

    pull_id: str = param(pattern=ID_PATTERN)
    roles: tuple[str, ...] = param(max_len=64)
    state: str = param(doc="'running', 'succeeded', 'failed' or 'cancelled'.", choices=PULL_STATES)
    started_at: float
    finished_at: float | None = None
    files_total: int = param(0, doc="Files to fetch (0 until the hub has listed them).", ge=0)
    files_started: int = param(0, doc="Files begun so far.", ge=0)
    bytes_total: int = param(0, doc="Bytes to fetch (0 until listed).", ge=0)
    bytes_done: int = param(0, doc="Bytes fetched so far (counted in the hub client's 10 MiB chunks).", ge=0)
    current: str = param("", doc="'role: path' of the file being fetched.", max_len=1000)
    message: str = param("", doc="The pull's last line (the licence, the file).", max_len=2000)
    error: ErrorInfo | None = param(None, doc="Why it failed.")
    cancel_requested: bool = param(False, doc="A client asked it to stop; it is 'cancelled' once its process has exited.")


# --------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Error(_ClippedMessage, Message, type="error"):
    code: ErrorCode
    message: str = param(max_len=MAX_ERROR_CHARS)
    details: dict[str, Plain] = param(factory=dict)


@dataclass(frozen=True)
class Welcome(Message, type="welcome"):
    server_version: str = param(max_len=64)
    protocol_version: tuple[int, ...] = param(max_len=2)
    devices: tuple[DeviceInfo, ...] = param(max_len=64)
    methods: tuple[MethodInfo, ...] = param(max_len=64)
    limits: dict[str, int] = param(factory=dict)


@dataclass(frozen=True)
class Pong(Message, type="pong"):
    server_time: float


@dataclass(frozen=True)
class ServerStats(Message, type="server_stats"):
    rss_bytes: int
    uptime_s: float
    peers: int
    subscriptions: int
    queued_jobs: int
    running_jobs: tuple[str, ...]
    worker_restarts: int
    worker_pids: tuple[int, ...] = ()
    dropped: dict[str, int] = param(factory=dict, doc="Refused frames by reason since start.")


@dataclass(frozen=True)
class Submitted(Message, type="submitted"):
    job: JobInfo
    created: bool = param(doc="False when the client key matched an existing job.")


@dataclass(frozen=True)
class JobStatus(Message, type="job_status"):
    job: JobInfo


@dataclass(frozen=True)
class JobList(Message, type="job_list"):
    jobs: tuple[JobInfo, ...]
    total: int = param(ge=0)


@dataclass(frozen=True)
class ResultChunk(Message, type="result_chunk"):
    job_id: str = param(pattern=ID_PATTERN)
    item: str = param(pattern=ID_PATTERN)
    chunk: int = param(ge=0)
    offset: int = param(ge=0)
    data: Blob = param()


@dataclass(frozen=True)
class Ack(Message, type="ack"):
    detail: str = param("", max_len=500)


@dataclass(frozen=True)
class Pruned(Message, type="pruned"):
    """What a prune removed."""

    job_ids: tuple[str, ...] = param(doc="The finished jobs deleted, oldest first.", max_len=100_000)
    freed_bytes: int = param(ge=0, doc="Disk space they held.")
    kept_bytes: int = param(ge=0, doc="What the job store holds now.")


@dataclass(frozen=True)
class ModelList(Message, type="model_list"):
    models: tuple[ModelInfo, ...] = param(max_len=256)
    pull: PullInfo | None = param(None, doc="The running pull, else the last one since the backend started.")


@dataclass(frozen=True)
class PullStatus(Message, type="pull_status"):
    pull: PullInfo


# -------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Hello(Request, type="hello"):
    Reply: ClassVar[type[Message]] = Welcome
    client: str = param("", doc="Client program and version, for the logs.", max_len=200)


@dataclass(frozen=True)
class Ping(Request, type="ping"):
    Reply: ClassVar[type[Message]] = Pong


@dataclass(frozen=True)
class GetStats(Request, type="get_stats"):
    Reply: ClassVar[type[Message]] = ServerStats


@dataclass(frozen=True)
class Submit(Request, type="submit"):
    Reply: ClassVar[type[Message]] = Submitted
    job: JobSpec
    follow: bool = param(True, doc="Stream the job's events to this client.")


@dataclass(frozen=True)
class GetJob(Request, type="get_job"):
    Reply: ClassVar[type[Message]] = JobStatus
    job_id: str = param(pattern=ID_PATTERN)


@dataclass(frozen=True)
class Cancel(Request, type="cancel"):
    Reply: ClassVar[type[Message]] = JobStatus
    job_id: str = param(pattern=ID_PATTERN)


@dataclass(frozen=True)
class Attach(Request, type="attach"):
    """Get a job's state and follow it: events after ``since_seq`` and the latest preview follow as pushes."""

    Reply: ClassVar[type[Message]] = JobStatus
    job_id: str = param(pattern=ID_PATTERN)
    since_seq: int = param(0, doc="Last event this client has; 0 for all.", ge=0)
    follow: bool = param(True, doc="Keep streaming new events; False sends the missed ones only.")


@dataclass(frozen=True)
class Detach(Request, type="detach"):
    Reply: ClassVar[type[Message]] = Ack
    job_id: str = param(pattern=ID_PATTERN)


@dataclass(frozen=True)
class ListJobs(Request, type="list_jobs"):
    Reply: ClassVar[type[Message]] = JobList
    limit: int = param(100, ge=1, le=10_000)
    states: tuple[JobState, ...] = param((), doc="Only jobs in these states; empty for all.", max_len=8)


@dataclass(frozen=True)
class FetchResult(Request, type="fetch_result"):
    Reply: ClassVar[type[Message]] = ResultChunk
    job_id: str = param(pattern=ID_PATTERN)
    item: str = param(pattern=ID_PATTERN)
    chunk: int = param(ge=0)


@dataclass(frozen=True)
class PruneJobs(Request, type="prune_jobs"):
    """Delete finished jobs, oldest first: those finished more than ``keep_days`` ago, then more until the store holds at
    most ``max_bytes``. Never a running or queued job, one a client follows, or one that holds a trained generator."""

    Reply: ClassVar[type[Message]] = Pruned
    max_bytes: int | None = param(None, doc="Disk quota of the job store; None for none.", ge=0)
    keep_days: float | None = param(None, doc="Age limit of finished jobs, in days; None for none.", ge=0.0)


@dataclass(frozen=True)
class ReleaseGpu(Request, type="release_gpu"):
    """Ask idle workers to free cached models and GPU memory."""

    Reply: ClassVar[type[Message]] = Ack


@dataclass(frozen=True)
class ListModels(Request, type="list_models"):
    """Every pretrained model the backend knows, its state on the backend's disk, and the current model pull."""

    Reply: ClassVar[type[Message]] = ModelList


@dataclass(frozen=True)
class PullModels(Request, type="pull_models"):
    """Fetch models onto the backend's disk from the Hugging Face hub (its endpoint is the backend's ``HF_ENDPOINT``).
    One pull runs at a time: follow it with ListModels, stop it with CancelPull; what was fetched
    is kept, and the next pull continues the file it stopped in."""

    Reply: ClassVar[type[Message]] = PullStatus
    roles: tuple[str, ...] = param(doc="Registry roles (ModelInfo.role).", max_len=64)
    token: str | None = param(
        None, doc="A Hugging Face token for gated models (default: the backend's own). Travels encrypted only when the "
        "backend runs with --curve (or on this machine).", max_len=400,
    )  # fmt: skip

    def check(self) -> None:
        if not self.roles:
            raise SchemaError("roles", "name at least one model role")
        for role in self.roles:
            if not re.fullmatch(NAME_PATTERN, role):
                raise SchemaError("roles", f"{role[:64]!r} is not a role name")


@dataclass(frozen=True)
class CancelPull(Request, type="cancel_pull"):
    """Stop the running model pull (what was fetched stays; the next pull continues from there)."""

    Reply: ClassVar[type[Message]] = PullStatus


# ---------------------------------------------------------------------- pushes


@dataclass(frozen=True)
class Events(Message, type="events"):
    job_id: str = param(pattern=ID_PATTERN)
    events: tuple[Event, ...] = param(max_len=10_000)
    job: JobInfo | None = param(None, doc="The job's state after these events.")


@dataclass(frozen=True)
class Preview(Message, type="preview"):
    job_id: str = param(pattern=ID_PATTERN)
    info: PreviewInfo
    image: Blob = param()
