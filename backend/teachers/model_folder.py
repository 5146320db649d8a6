"""Where a loader reads a model from, and what a failed read becomes.

:func:`model_folder` gives the local folder (an explicit path, or the registry's);
:func:`reading` turns any failure while reading it — an incomplete download, a folder
holding another model — into a :class:`~backend.teachers.registry.BrokenModelError`
naming the model, instead of a traceback from deep inside diffusers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from protocol.errors import ProtocolError

from . import registry, weight_files

def model_folder(role: str, path: Path | str | None) -> Path:
    """``path`` if it holds the role's marker file, else the registry's folder for ``role``.

    Raises :class:`registry.MissingModelError` naming the role when the model is not on disk,
    whether it was asked for by path or through the registry.
    """
    if path is None:
        return registry.require(role)
    folder = Path(path).expanduser()
    marker = registry.ROLES[role].marker
    problem = registry.incompleteness(folder, registry.ROLES[role]) if (folder / marker).is_file() else None
    if problem or not (folder / marker).is_file():
        raise registry.MissingModelError([registry.Resolution(role=role, reference=str(folder), source=registry.LOAD_ARGUMENT, path=None, problem=problem)])
    return folder


@contextmanager
def reading(role: str) -> Iterator[None]:
    """Around the code that reads ``role``'s files: any failure there becomes :class:`registry.BrokenModelError`.

    Wire errors (missing models) and running out of memory pass through unchanged. Validate arguments
    and resolve folders *before* entering, so their errors keep their own message.
    """
    try:
        yield
    except (ProtocolError, torch.OutOfMemoryError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - diffusers, transformers and safetensors raise many kinds
        raise registry.BrokenModelError(role, exc) from exc


def read_weights(folder: Path, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The state dict in the first of ``names`` present in ``folder`` (safetensors, else a pickle-free torch file), in
    the folder's variant (:func:`~backend.teachers.weight_files.variant`: ``x.fp16.safetensors`` for ``x.safetensors``)."""
    variant = weight_files.variant(folder)
    for name in names:
        path = folder / weight_files.with_variant(name, variant)
        if path.is_file():
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                return load_file(path)
            return torch.load(path, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{folder} has none of {', '.join(names)}")
