"""The method registry: name → config class, lazy factory, description, presets.

Listing methods imports only config modules (typed dataclasses, no torch); a
method's model code is imported by :func:`create` when a worker runs its job.
Methods are listed here explicitly; extra modules named in ``$DISTILL3D_PLUGINS``
(comma-separated, e.g. ``backend.bench.probe``) are imported first and may call
:func:`register` (tests and benchmarks use this; artists never see them unless set).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import Record

PLUGINS_ENV = "DISTILL3D_PLUGINS"


@dataclass(frozen=True)
class MethodEntry:
    """One registered method."""

    name: str
    """Wire name, e.g. ``dtc123``."""
    description: str
    """One paragraph for people: what goes in, what comes out, what it costs."""
    config_class: type[Record]
    """Typed config dataclass with the paper's defaults. When it defines ``required_models() -> tuple[str, ...]``
    (model registry roles), a job whose models are not on disk is refused at submit time with ``missing_model``."""
    factory: str
    """``module:callable`` returning a :class:`backend.methods.base.Method`; imported lazily."""
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"default": {}})
    """Preset name → dotted config overrides applied over the defaults."""
    default_preset: str = "default"
    """Preset used when a job names none."""
    needs_image: bool = False
    """Jobs must carry an input image."""
    needs_prompt: bool = False
    """Jobs must carry a non-empty prompt."""
    role: str = "generate"
    """``generate``: makes an asset from the artist's inputs (the Generate panel lists these);
    ``generator``: a tool that samples an existing 3D generator (variants, interpolation)."""
    resumable: bool = False
    """Jobs checkpoint into their work folder and continue from it: a job the server was stopped (or crashed) under
    is queued again when it next starts, instead of failing ``interrupted``."""
    transient_when: Mapping[str, Any] = field(default_factory=dict)
    """Dotted config values that make a finished job disposable (e.g. an interpolation scrub preview):
    the server deletes such jobs when it next starts. Empty: jobs are kept."""

    def is_transient(self, config: Mapping[str, Any]) -> bool:
        """True when a job that ran with ``config`` (nested as stored) matches every :attr:`transient_when` value."""
        return bool(self.transient_when) and all(_dotted(config, key) == value for key, value in self.transient_when.items())

    def __post_init__(self) -> None:
        if self.default_preset not in self.presets:
            raise ValueError(f"method {self.name}: default preset {self.default_preset!r} is not among its presets")


def _dotted(config: Mapping[str, Any], key: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``; None where a part is missing."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def is_resumable(method: str) -> bool:
    """Jobs of ``method`` continue from their checkpoints after a server restart (unknown methods: no)."""
    _load_plugins()
    entry = _registry.get(method)
    return entry is not None and entry.resumable


def is_transient_job(method: str, config: Mapping[str, Any]) -> bool:
    """A finished job of ``method`` that ran with ``config`` may be deleted (unknown methods: kept)."""
    _load_plugins()
    entry = _registry.get(method)
    return entry is not None and entry.is_transient(config)


_registry: dict[str, MethodEntry] = {}
_plugins_loaded = False


def register(entry: MethodEntry) -> None:
    """Add a method (a second entry with the same name replaces the first)."""
    _registry[entry.name] = entry


def _register_builtins() -> None:
    from .cad.config import PRESETS as CAD_PRESETS
    from .cad.config import CADConfig
    from .dtc123.config import PRESETS as DTC123_PRESETS
    from .dtc123.config import DTC123Config
    from .variants.config import InterpolateConfig, InvertConfig, VariantsConfig

    register(
        MethodEntry(
            name="dtc123",
            description="One image to a textured mesh: a hash-grid NeRF distilled from Zero-1-to-3 with DTC123's time-step "
            "curriculum (annealed interval, band mask), exported as a textured mesh. Needs Zero123-XL weights, or teacher "
            "'synthetic' with a 'target' GLB (no weights). About 20 min on an A100 with the 'paper' preset.",
            config_class=DTC123Config,
            factory="backend.methods.dtc123.pipeline:DTC123Method",
            presets=DTC123_PRESETS,
            default_preset="paper",
            resumable=True,
        )
    )

    register(
        MethodEntry(
            name="cad",
            description="Image + prompt to a 3D generator: multi-view prior samples pruned by pose, distilled adversarially into an "
            "EG3D-style triplane GAN (CAD). The result is a sample mesh and the generator (for variants, interpolation, inversion). "
            "Needs Zero123-XL, DeepFloyd IF and CLIP weights, or prior 'synthetic' with a 'family' (no weights). Days on GPUs with the 'paper' preset.",
            config_class=CADConfig,
            factory="backend.methods.cad.pipeline:CADMethod",
            presets=CAD_PRESETS,
            default_preset="paper",
            resumable=True,
        )
    )
    register(
        MethodEntry(
            name="invert",
            description="The latent of a CAD generator that best reproduces the input image (GAN inversion in w or w+), and its mesh.",
            config_class=InvertConfig,
            factory="backend.methods.variants.pipeline:InvertMethod",
            presets={"default": {}},
            needs_image=True,
            role="generator",
        )
    )

    register(
        MethodEntry(
            name="variants",
            description="Sample N variants of a 3D generator (a distilled CAD generator, or 'demo'): one mesh per seed, tagged with its latent.",
            config_class=VariantsConfig,
            factory="backend.methods.variants.pipeline:VariantsMethod",
            presets={"default": {}, "preview": {"quality": "preview"}},
            role="generator",
        )
    )
    register(
        MethodEntry(
            name="interpolate",
            description="The mesh between two latents of a 3D generator, at preview quality for scrubbing or full quality to keep.",
            config_class=InterpolateConfig,
            factory="backend.methods.variants.pipeline:InterpolateMethod",
            presets={"default": {}, "full": {"quality": "full"}},
            role="generator",
            transient_when={"quality": "preview"},
        )
    )


_register_builtins()


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(module)


def entries() -> list[MethodEntry]:
    """All methods, by name."""
    _load_plugins()
    return [_registry[name] for name in sorted(_registry)]


def get(name: str) -> MethodEntry:
    """The entry for ``name``; :class:`ProtocolError` ``unknown_method`` naming the known ones otherwise."""
    _load_plugins()
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry)) or "none are installed"
        raise ProtocolError(ErrorCode.UNKNOWN_METHOD, f"unknown method {name!r} (known: {known})") from None


def create(name: str) -> Any:
    """Import the method's factory and call it (worker side; may import torch)."""
    module_name, _, attr = get(name).factory.partition(":")
    return getattr(importlib.import_module(module_name), attr)()
