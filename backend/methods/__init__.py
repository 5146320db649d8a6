"""The method registry: every :class:`~.spec.MethodSpec` the backend can run, found, not listed.

Specs come from three places, read once on first use:

1. every method folder here — a subpackage with a ``spec.py`` whose ``SPECS`` lists its specs
   (adding a method is adding a folder);
2. installed packages exposing the entry-point group ``distill3d.methods`` — each entry point
   names a spec, a sequence of specs, or a module with ``SPECS``;
3. the modules named in ``$DISTILL3D_PLUGINS`` (comma-separated; tests and benchmarks use this)
   — each may define ``SPECS`` or call :func:`register`.

A later spec of the same name replaces an earlier one. A third-party entry point that fails to
load is skipped and reported by :func:`problems` (a broken plugin must not take the backend
down); a built-in one that fails is a bug and raises. Listing methods imports only spec and
config modules (no torch); :func:`create` imports a method's code when a worker runs its job.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
import pkgutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from protocol.errors import ErrorCode, ProtocolError

from .spec import MethodSpec

log = logging.getLogger(__name__)

PLUGINS_ENV = "DISTILL3D_PLUGINS"
ENTRY_POINT_GROUP = "distill3d.methods"

_registry: dict[str, MethodSpec] = {}
_problems: dict[str, str] = {}
_discovered = False


def register(spec: MethodSpec) -> None:
    """Add a method (a second spec with the same name replaces the first)."""
    if not isinstance(spec, MethodSpec):
        raise TypeError(f"register() takes a MethodSpec, got {type(spec).__name__}")
    _registry[spec.name] = spec


def _register_all(found: Any, source: str) -> None:
    """Register what ``found`` holds: a spec, an iterable of specs, or a module with ``SPECS``."""
    if isinstance(found, MethodSpec):
        register(found)
        return
    specs = getattr(found, "SPECS", found)
    if not isinstance(specs, Iterable) or isinstance(specs, (str, bytes)):
        raise TypeError(f"{source} holds no MethodSpec (give a spec, a list of specs or a module with SPECS)")
    for spec in specs:
        register(spec)


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        name = f"{__name__}.{module.name}.spec"
        if module.ispkg and importlib.util.find_spec(name) is not None:
            _register_all(importlib.import_module(name), name)
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            _register_all(entry_point.load(), f"entry point {entry_point.name!r} ({entry_point.value})")
        except Exception as exc:  # noqa: BLE001 - a broken third-party plugin is skipped, not fatal
            _problems[entry_point.name] = f"entry point {entry_point.name!r} ({entry_point.value}) failed to load: {type(exc).__name__}: {exc}"
            log.error("%s", _problems[entry_point.name])
    for name in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        module = importlib.import_module(name)
        if hasattr(module, "SPECS"):
            _register_all(module, name)


def problems() -> list[str]:
    """Why plugins that were found could not be loaded (empty when all loaded)."""
    _discover()
    return list(_problems.values())


def entries() -> list[MethodSpec]:
    """All methods, by name."""
    _discover()
    return [_registry[name] for name in sorted(_registry)]


def get(name: str) -> MethodSpec:
    """The spec of ``name``; :class:`ProtocolError` ``unknown_method`` naming the known ones otherwise."""
    _discover()
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none are installed"
        raise ProtocolError(ErrorCode.UNKNOWN_METHOD, f"unknown method {name!r} (known: {known})") from None


def resolve_reference(reference: str) -> Any:
    """The attribute a ``"module:attribute"`` string names (imports the module)."""
    module_name, sep, attribute = reference.partition(":")
    if not sep:
        raise ValueError(f"{reference!r} is not of the form 'module:attribute'")
    return getattr(importlib.import_module(module_name), attribute)


def create(name: str) -> Any:
    """Import the method's factory and call it (worker side; may import torch)."""
    return resolve_reference(get(name).factory)()


def is_resumable(method: str) -> bool:
    """Jobs of ``method`` continue from their checkpoints after a server restart (unknown methods: no)."""
    _discover()
    spec = _registry.get(method)
    return spec is not None and spec.resumable


def is_transient_job(method: str, config: Mapping[str, Any]) -> bool:
    """A finished job of ``method`` that ran with ``config`` may be deleted (unknown methods: kept)."""
    _discover()
    spec = _registry.get(method)
    return spec is not None and spec.is_transient(config)


def _lazy_loader(reference: str) -> Callable[[dict, Path, str], Any]:
    return lambda description, folder, device: resolve_reference(reference)(description, folder, device)


def generator_catalog(jobs_dir: Path | None = None) -> Any:
    """The :class:`backend.generators.Catalog` of every method's generator kinds and shipped generators; with ``jobs_dir``
    (a job store's folder of jobs), job ids there name the generators those jobs saved (None: no job ids)."""
    from functools import partial

    from ..generators import Catalog
    from ..job_layout import generator_folder

    kinds: dict[str, Callable[[dict, Path, str], Any]] = {}
    named: dict[str, Path] = {}
    for spec in entries():
        kinds.update({kind: _lazy_loader(reference) for kind, reference in spec.generator_kinds.items()})
        named.update({name: Path(resolve_reference(reference)) for name, reference in spec.named_generators.items()})
    return Catalog(kinds, named, partial(generator_folder, jobs_dir)) if jobs_dir is not None else Catalog(kinds, named)
