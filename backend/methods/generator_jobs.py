"""What methods that drive an existing 3D generator share: a per-worker cache of loaded generators, readable errors."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from protocol.errors import ErrorCode

from ..generators import Generator, GeneratorError, Latent, load
from .base import JobContext, JobResult, MethodError

CACHED_GENERATORS = 2
"""Generators kept loaded per worker (scrubbing sends one job per slider move to the same generator)."""


class GeneratorCache:
    """The last :data:`CACHED_GENERATORS` generators a worker loaded, by spec and device."""

    def __init__(self) -> None:
        self._loaded: OrderedDict[str, Generator] = OrderedDict()

    def get(self, spec: str, context: JobContext) -> Generator:
        """The generator ``spec`` names (loaded through the job's catalog); ``invalid_params`` saying why when it names none."""
        key = f"{spec}@{context.device}"
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        try:
            generator = load(spec, context.generators, context.device)
        except GeneratorError as exc:
            raise MethodError(str(exc), ErrorCode.INVALID_PARAMS) from None
        self._loaded[key] = generator
        while len(self._loaded) > CACHED_GENERATORS:
            self._loaded.popitem(last=False)
        return generator


@contextmanager
def mesh_errors() -> Iterator[None]:
    """A generator's refusal (a latent of the wrong length, an empty surface …) as the job's readable error."""
    try:
        yield
    except (GeneratorError, ValueError) as exc:
        raise MethodError(f"the generator could not make this mesh: {exc}", ErrorCode.INVALID_PARAMS) from None


def put_latent(result: JobResult, prefix: str, latent: Latent) -> None:
    """The latent's arrays in the result: ``<prefix>latent`` (the code) and, for conditioned generators, ``<prefix>condition``."""
    result.arrays[prefix + "latent"] = latent.code
    if latent.condition is not None:
        result.arrays[prefix + "condition"] = latent.condition
