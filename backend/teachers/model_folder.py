"""Where a loader reads a model from, and what a failed read becomes.

:func:`model_folder` gives the local folder (an explicit path, or the registry's);
:func:`loader` turns any failure while reading it — an incomplete download, a folder
holding another model — into a :class:`~backend.teachers.registry.BrokenModelError`
naming the model, instead of a traceback from deep inside diffusers.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, TypeVar

import torch

from protocol.errors import ProtocolError

from . import registry

Loaded = TypeVar("Loaded")


def model_folder(role: str, path: Path | str | None) -> Path:
    """``path`` if it holds the role's marker file, else the registry's folder for ``role``.

    Raises :class:`registry.MissingModelError` naming the role when the model is not on disk,
    whether it was asked for by path or through the registry.
    """
    if path is None:
        return registry.require(role)
    folder = Path(path).expanduser()
    if not (folder / registry.ROLES[role].marker).is_file():
        raise registry.MissingModelError([registry.Resolution(role=role, reference=str(folder), source="the load() argument", path=None)])
    return folder


def loader(*roles: str) -> Callable[[Callable[..., Loaded]], Callable[..., Loaded]]:
    """Decorate a ``load()`` that reads the models of ``roles``: reading failures become :class:`registry.BrokenModelError`.

    Wire errors (missing models) and running out of memory pass through unchanged.
    """

    def decorate(load: Callable[..., Loaded]) -> Callable[..., Loaded]:
        @functools.wraps(load)
        def guarded(*args, **kwargs) -> Loaded:
            try:
                return load(*args, **kwargs)
            except (ProtocolError, torch.OutOfMemoryError, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - diffusers, transformers and safetensors raise many kinds
                raise registry.BrokenModelError(roles, exc) from exc

        return guarded

    return decorate
