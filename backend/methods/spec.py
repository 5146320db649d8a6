"""What a method folder declares about itself: :class:`MethodSpec`, read by the registry (:mod:`backend.methods`).

A method folder ``backend/methods/<name>/`` holds a ``spec.py`` whose ``SPECS`` lists its
specs; a third-party package exposes the same through the ``distill3d.methods`` entry-point
group. A spec is plain data and ``"module:attribute"`` strings: listing methods imports
the config module and nothing that needs torch; the factory, generator loaders, commands and
the example job are imported only when used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from protocol.schema import Record

CLI_OPTION_KINDS = ("text", "path", "path_if_exists")
"""How a :class:`CliOption`'s value reaches the config: as given, as an absolute path, or as an absolute path only
when it names an existing file or folder (a family is a built-in name or a folder)."""


class CommandError(Exception):
    """Bad command-line input for a method's command: ``distill3d`` prints it without a traceback and exits 2."""


@dataclass(frozen=True)
class CliOption:
    """A shortcut flag that ``distill3d generate`` and ``distill3d train`` accept for this method: ``FLAG VALUE`` is
    ``--set PARAM=VALUE``."""

    flag: str
    """The flag, e.g. ``--target``."""
    param: str
    """The dotted config parameter it sets, e.g. ``target``."""
    help: str
    """One line for ``--help``."""
    metavar: str = "VALUE"
    """Placeholder of the value in ``--help``."""
    kind: str = "text"
    """One of :data:`CLI_OPTION_KINDS`: paths are made absolute here (the backend may run elsewhere on this machine)."""

    def __post_init__(self) -> None:
        if not self.flag.startswith("--") or self.kind not in CLI_OPTION_KINDS:
            raise ValueError(f"CLI option {self.flag!r}: the flag must start with -- and the kind be one of {CLI_OPTION_KINDS}")


@dataclass(frozen=True)
class Command:
    """A ``distill3d`` subcommand a method contributes."""

    help: str
    """One line for ``distill3d --help``."""
    arguments: str
    """``module:callable`` ``(argparse parser) → None`` adding the command's own arguments; imported whenever the
    command line is parsed, so its module must not import torch at import time."""
    run: str
    """``module:callable`` ``(parsed args) → exit status``; imported only when the command runs."""
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Presets only this command takes (``train``: the settings a shipped model was trained with), beside the method's
    own; jobs and the add-on never list them."""


@dataclass(frozen=True)
class MethodSpec:
    """One method as the registry lists it and the worker runs it."""

    name: str
    """Wire name, e.g. ``dtc123``."""
    description: str
    """One paragraph for people: what goes in, what comes out, what it costs."""
    config_class: type[Record]
    """Typed config dataclass with the paper's defaults. When it defines ``required_models() -> tuple[str, ...]``
    (model registry roles), a job whose models are not on disk is refused at submit time with ``missing_model``. When it
    defines ``check_inputs() -> None``, raising :class:`protocol.schema.SchemaError` on the parameter that names an
    unusable input (a file that is not there or not of its kind), a job is refused with ``invalid_params`` before its
    models are checked, and ``distill3d generate`` refuses it before submitting."""
    factory: str
    """``module:callable`` returning a :class:`backend.methods.base.Method`; imported lazily (in the worker)."""
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
    ``generator``: a tool that samples an existing 3D generator (variants, interpolation, inversion)."""
    resumable: bool = False
    """Jobs checkpoint into their work folder and continue from it: a job the server was stopped (or crashed) under
    is queued again when it next starts, instead of failing ``interrupted``."""
    transient_when: Mapping[str, Any] = field(default_factory=dict)
    """Dotted config values that make a finished job disposable (e.g. an interpolation scrub preview):
    the server deletes such jobs when it next starts. Empty: jobs are kept."""
    generator_kinds: Mapping[str, str] = field(default_factory=dict)
    """Generator kind (the ``kind`` of a ``generator.json``) → ``module:callable`` loader
    ``(description, folder, device) → Generator``, for the generators this method makes."""
    named_generators: Mapping[str, str] = field(default_factory=dict)
    """Generator spec name → ``module:attribute`` holding the folder of a generator the method ships (e.g. ``demo``)."""
    cli_options: tuple[CliOption, ...] = ()
    """Shortcut flags of ``distill3d generate --method NAME`` and ``distill3d train --method NAME``."""
    train: Command | None = None
    """``distill3d train --method NAME``: train without a server (its ``run(args)`` gets ``args.config``, resolved)."""
    bench: Command | None = None
    """``distill3d bench NAME``: the method's benchmark (prints a table)."""
    evaluate: Command | None = None
    """``distill3d eval NAME``: the method's evaluation against the synthetic world's ground truth (prints a table)."""
    commands: Mapping[str, Command] = field(default_factory=dict)
    """Further ``distill3d`` subcommands by name (e.g. CAD's ``invert``)."""
    example: str | None = None
    """``module:callable`` ``(folder: Path) → ExampleJob``: a tiny job that runs without weights (files it needs go in
    ``folder``); the shared method contract test runs it. Every method needs one."""

    def __post_init__(self) -> None:
        if self.default_preset not in self.presets:
            raise ValueError(f"method {self.name}: default preset {self.default_preset!r} is not among its presets")
        if self.role not in ("generate", "generator"):
            raise ValueError(f"method {self.name}: role must be 'generate' or 'generator', got {self.role!r}")

    def is_transient(self, config: Mapping[str, Any]) -> bool:
        """True when a job that ran with ``config`` (nested as stored) matches every :attr:`transient_when` value."""
        return bool(self.transient_when) and all(_dotted(config, key) == value for key, value in self.transient_when.items())

    def for_training(self) -> "MethodSpec":
        """This spec as ``distill3d train`` resolves it: its presets and its train command's own."""
        return replace(self, presets={**self.presets, **(self.train.presets if self.train else {})})


def _dotted(config: Mapping[str, Any], key: str) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``; None where a part is missing."""
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


@dataclass(frozen=True)
class ExampleJob:
    """A job a method can run without weights, small enough for a test (its :attr:`MethodSpec.example`)."""

    preset: str
    """Preset to resolve."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Dotted overrides on top of the preset (keep them few: the contract test checks the preset runs)."""
    prompt: str = ""
    """The job's prompt."""
    image: Any | None = None
    """Input image as a PIL ``Image`` (RGBA), or None."""
    camera: Any | None = None
    """A :class:`protocol.messages.Camera`, or None."""
    arrays: Mapping[str, Any] = field(default_factory=dict)
    """Named input arrays (numpy)."""
    resume_stage: str = ""
    """For resumable methods: the progress stage the contract test interrupts (a cancel while its step 3 runs) and
    expects a rerun to continue in, not restart: the stage must be long enough that a checkpoint falls inside it."""
    resume_params: Mapping[str, Any] = field(default_factory=dict)
    """For resumable methods: overrides that make :attr:`resume_stage` checkpoint within its first three steps
    (merged over :attr:`params`)."""
