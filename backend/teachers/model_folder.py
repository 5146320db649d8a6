"""The local folder a loader reads: an explicit path, or the registry's folder for the role."""

from __future__ import annotations

from pathlib import Path

from . import registry


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
