"""Whether a job fits the GPU memory that is free, and what to say when it does not (``out_of_memory``).

Pure decisions on numbers the caller passes (free bytes, the recorded :class:`protocol.messages.Footprint` rows), so
they are tested without a GPU; the worker (:mod:`.worker_main`) probes the memory and raises the error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from protocol.errors import ErrorCode
from protocol.messages import Footprint, ParamInfo

from ..engine.errors import MethodError

GIB = 2**30
"""Bytes per GiB, the unit of every message here."""
OFFLOAD_WORDS = ("offload", "attention_slicing")
"""A boolean config parameter whose last name part contains one of these trades speed for GPU memory."""


def gib(n_bytes: int) -> str:
    """``n_bytes`` as GiB with two decimals, e.g. ``'11.30 GiB'``."""
    return f"{n_bytes / GIB:.2f} GiB"


def needed_bytes(footprints: Sequence[Footprint], preset: str, device: str) -> int | None:
    """GPU bytes a job of ``preset`` needs on device kind ``device`` (its recorded peak), or None when not measured."""
    row = next((f for f in footprints if f.preset == preset and f.device == device), None)
    return None if row is None else row.peak_bytes


def presets_that_fit(footprints: Sequence[Footprint], device: str, free_bytes: int) -> list[str]:
    """The presets whose recorded peak on ``device`` is at most ``free_bytes``, smallest first."""
    fitting = sorted((f.peak_bytes, f.preset) for f in footprints if f.device == device and f.peak_bytes <= free_bytes)
    return [preset for _, preset in fitting]


def memory_options(params: Sequence[ParamInfo]) -> list[str]:
    """The boolean parameters of a method that lower GPU memory (offloading, attention slicing), as dotted names."""
    return [p.name for p in params if p.type == "bool" and any(w in p.name.rsplit(".", 1)[-1] for w in OFFLOAD_WORDS)]


def advice(
    method: str, preset: str, device: str, footprints: Sequence[Footprint], params: Sequence[ParamInfo], free_bytes: int | None
) -> str:
    """What a person can do when a job of ``method``/``preset`` does not fit on device kind ``device`` ('cuda', 'cpu')
    with ``free_bytes`` free (None: unknown): the other presets whose recorded peak fits (or, when the free memory is
    unknown, every recorded peak), the method's offload options, and freeing memory."""
    parts = []
    if free_bytes is not None:
        others = [p for p in presets_that_fit(footprints, device, free_bytes) if p != preset]
        if others:
            parts.append(f"presets of {method} that fit: " + ", ".join(f"'{p}' ({gib(needed_bytes(footprints, p, device) or 0)})" for p in others))
        else:
            parts.append(f"no recorded preset of {method} fits in {gib(free_bytes)}")
    else:
        recorded = sorted((f.peak_bytes, f.preset) for f in footprints if f.device == device)
        parts.append(f"recorded {device} peaks of {method}: " + ", ".join(f"'{p}' {gib(n)}" for n, p in recorded)
                     if recorded else f"no preset of {method} has a recorded {device} footprint")  # fmt: skip
    options = memory_options(params)
    parts.append("lower its memory with " + " or ".join(f"--set {name}=true" for name in options) if options else f"{method} has no offload option")
    if device == "cuda":
        parts.append("close other programs using the GPU, or release the models idle workers keep (the release_gpu request)")
    else:
        parts.append("close other programs, or run the backend with fewer --workers")
    return "; ".join(parts) + "."


def preflight_error(
    method: str, preset: str, footprints: Sequence[Footprint], params: Sequence[ParamInfo], free_bytes: int, total_bytes: int
) -> MethodError | None:
    """``out_of_memory`` when the recorded CUDA peak of ``method``/``preset`` exceeds ``free_bytes`` of the device's
    ``total_bytes``; None when it fits or when nothing is recorded (an unmeasured job is never refused)."""
    needed = needed_bytes(footprints, preset, "cuda")
    if needed is None or needed <= free_bytes:
        return None
    return MethodError(
        f"{method} preset '{preset}' needs {gib(needed)} of GPU memory (its recorded peak), but {gib(free_bytes)} of "
        f"{gib(total_bytes)} is free: {advice(method, preset, 'cuda', footprints, params, free_bytes)}",
        ErrorCode.OUT_OF_MEMORY,
    )


WEIGHTS_TOLERANCE = 0.9
"""A job without a recorded peak is refused only when the free memory is under this share of its models' weights (their
sizes are approximate: a job that could just fit is never refused on them)."""


def weights_error(
    method: str, preset: str, weights: int, footprints: Sequence[Footprint], params: Sequence[ParamInfo], free_bytes: int, total_bytes: int
) -> MethodError | None:
    """``out_of_memory`` when the free GPU memory is under :data:`WEIGHTS_TOLERANCE` of ``weights``, the bytes the weights
    of the job's models take (:func:`backend.methods.footprints.weights_bytes`): the job cannot fit, whatever its peak."""
    if weights <= 0 or free_bytes >= WEIGHTS_TOLERANCE * weights:
        return None
    return MethodError(
        f"{method} preset '{preset}' loads models whose weights alone take about {gib(weights)} of GPU memory (a floor: its peak "
        f"is not measured, and it needs more), but {gib(free_bytes)} of {gib(total_bytes)} is free: "
        f"{advice(method, preset, 'cuda', footprints, params, free_bytes)}",
        ErrorCode.OUT_OF_MEMORY,
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """``exc`` is torch's out-of-memory error (``torch.OutOfMemoryError``, alias ``torch.cuda.OutOfMemoryError``) or
    Python's ``MemoryError``. Imports no torch: a process that never imported it raised none of its errors."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    error = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return error is not None and isinstance(exc, error)


def out_of_memory_error(
    method: str, preset: str, device: str, footprints: Sequence[Footprint], params: Sequence[ParamInfo], free_bytes: int | None, what: str
) -> MethodError:
    """``out_of_memory`` for a job of ``method``/``preset`` that ran out of memory on ``device`` while it ran (``what``:
    the error's text, its first line quoted), with what was free after the worker released its memory (None: unknown,
    e.g. on the CPU) and the advice."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    free = "" if free_bytes is None else f", {gib(free_bytes)} free after releasing it"
    first_line = (what.strip().splitlines() or ["out of memory"])[0][:300]
    return MethodError(
        f"{method} preset '{preset}' ran out of memory on {device} ({first_line}{free}): {advice(method, preset, kind, footprints, params, free_bytes)}",
        ErrorCode.OUT_OF_MEMORY,
    )
