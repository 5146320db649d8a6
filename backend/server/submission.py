"""From a submitted :class:`JobSpec` to a job the store can keep: everything checked up front.

Unknown method, preset or parameter, an out-of-range value, a missing prompt, a
missing or broken image, a file the config names that is not usable, a model not
on disk: each is refused here with a typed error, before any job exists, so
nothing half-made is left behind.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, replace
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import JobSpec, MAX_SEED
from protocol.schema import Record, SchemaError, to_plain

from .. import methods
from ..methods.configs import check_inputs, config_to_json, resolve
from ..teachers import registry
from .images import DEFAULT_MAX_PIXELS, validate_image


@dataclass(frozen=True)
class PreparedJob:
    method: str
    preset: str
    spec: dict[str, Any]
    """The spec as stored (plain data; the image travels separately)."""
    config: dict[str, Any]
    """The resolved config as stored."""
    digest: str
    """SHA-256 over the spec and image, for idempotent submits."""
    image: tuple[bytes, str] | None
    """``(bytes, extension)`` of the validated input image."""
    arrays: dict[str, Any]
    """Named input arrays (numpy, read-only views of the received frames)."""


def spec_digest(spec: JobSpec) -> str:
    """A digest of everything the client asked for (the seed as given, the image's bytes)."""
    plain = to_plain(replace(spec, image=None, client_key=None, arrays={}))
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True).encode())
    if spec.image is not None:
        digest.update(hashlib.sha256(spec.image.data.view).digest())
    for name in sorted(spec.arrays):
        array = spec.arrays[name]
        digest.update(json.dumps([name, array.dtype, list(array.shape)]).encode())
        digest.update(hashlib.sha256(array.view).digest())
    return digest.hexdigest()


def prepare(spec: JobSpec, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedJob:
    """Validate ``spec`` against the method registry and resolve its config; raises :class:`ProtocolError`.

    In the order a person fixes them: the parameters, then the inputs (prompt, image, files the config names), then the
    models the job needs, so a bad input is named as such even where the models are missing too."""
    entry = methods.get(spec.method)
    preset, config = resolve(entry, spec.preset, spec.params)
    if entry.needs_prompt and not spec.prompt.strip():
        raise ProtocolError(ErrorCode.INVALID_PARAMS, f"method {entry.name} needs a prompt")
    image = _image(spec, entry, max_pixels)
    arrays = _arrays(spec)
    _check_inputs(config)
    _check_models(config)
    seed = spec.seed if spec.seed is not None else secrets.randbelow(MAX_SEED + 1)
    stored = to_plain(replace(spec, image=None, seed=seed, arrays={}))
    stored.pop("image")
    stored.pop("arrays")
    if spec.image is not None:
        stored["image_name"] = spec.image.name
    return PreparedJob(
        method=entry.name,
        preset=preset,
        spec=stored,
        config=config_to_json(config),
        digest=spec_digest(spec),
        image=image,
        arrays=arrays,
    )


def _image(spec: JobSpec, entry: methods.MethodSpec, max_pixels: int) -> tuple[bytes, str] | None:
    """``(bytes, extension)`` of the job's validated input image; None when it has none and the method needs none."""
    if spec.image is None:
        if entry.needs_image:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, f"method {entry.name} needs an input image")
        return None
    data = bytes(spec.image.data)
    return data, validate_image(data, max_pixels).extension


def _check_inputs(config: Record) -> None:
    """``invalid_params`` naming the parameter when the config names an input it cannot use (a target that is no GLB)."""
    try:
        check_inputs(config)
    except SchemaError as exc:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, f"invalid parameter {exc}", parameter=exc.path) from None


def _check_models(config: Record) -> None:
    """``missing_model`` when a model the config needs is not on disk (the message says how to get it)."""
    required = getattr(config, "required_models", None)
    if required is None:
        return
    try:
        registry.check_present(required())
    except ValueError as exc:  # a broken models config file on the backend, or a role the method misnames
        raise ProtocolError(ErrorCode.MISSING_MODEL, f"cannot check the models this job needs: {exc}") from None


def _arrays(spec: JobSpec) -> dict[str, Any]:
    """The job's input arrays as numpy (read-only views); ``invalid_params`` when one does not fit its shape."""
    try:
        return {name: array.to_numpy() for name, array in spec.arrays.items()}
    except ValueError as exc:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, f"input arrays: {exc}") from None
