"""Resolving and describing method configs (typed :class:`protocol.schema.Record` dataclasses).

A job's config is the method's defaults, then its preset's overrides, then the
job's own overrides, all by dotted name (``stage1.iterations``); every step is
validated by the config's field bounds and its ``check`` hook.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import typing
from typing import Any, Mapping

from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import ParamInfo
from protocol.schema import Record, SchemaError, from_plain, to_plain, type_hints

from .spec import MethodSpec


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Record)


def param_names(cls: type[Record], prefix: str = "") -> list[str]:
    """Dotted names of every leaf field of a config class."""
    names: list[str] = []
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_record(tp):
            names.extend(param_names(tp, f"{prefix}{f.name}."))
        else:
            names.append(prefix + f.name)
    return names


def _type_label(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "list"
    if origin is not None:  # Optional[X] and other unions: name the first concrete type
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_label(args[0]) if args else "str"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "str"
    return getattr(tp, "__name__", "str")


def describe(cls: type[Record], prefix: str = "") -> list[ParamInfo]:
    """One :class:`ParamInfo` per leaf field, with defaults, docs and bounds, for UIs and ``distill3d methods``."""
    defaults = cls()
    infos: list[ParamInfo] = []
    hints = type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if _is_record(tp):
            infos.extend(describe(tp, f"{prefix}{f.name}."))
            continue
        meta = f.metadata
        low = meta.get("ge", meta.get("gt"))
        high = meta.get("le", meta.get("lt"))
        choices = meta.get("choices")
        if choices is None and isinstance(tp, type) and issubclass(tp, enum.Enum):
            choices = tuple(m.value for m in tp)
        infos.append(
            ParamInfo(
                name=prefix + f.name,
                type=_type_label(tp),
                default=to_plain(getattr(defaults, f.name)),
                doc=meta.get("doc", ""),
                minimum=low,
                maximum=high,
                choices=tuple(to_plain(list(choices))) if choices is not None else None,
            )
        )
    return infos


def apply_overrides(config: Record, overrides: Mapping[str, Any]) -> Record:
    """A new config with dotted-name ``overrides`` applied and validated.

    Raises :class:`ProtocolError` ``unknown_parameter`` (with close matches) or ``invalid_params``.
    """
    known = set(param_names(type(config)))
    for name in overrides:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ProtocolError(
                ErrorCode.UNKNOWN_PARAMETER, f"{type(config).__name__} has no parameter {name!r}{hint}", parameter=name
            )
    try:
        return _apply(config, overrides)
    except SchemaError as exc:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, f"invalid parameter {exc}", parameter=exc.path) from None


def _apply(config: Record, overrides: Mapping[str, Any]) -> Record:
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in overrides.items():
        head, dot, rest = name.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    for head, sub in nested.items():
        try:
            direct[head] = _apply(getattr(config, head), sub)
        except SchemaError as exc:
            raise exc.under(head) from None
    return dataclasses.replace(config, **direct) if direct else config


def resolve(entry: MethodSpec, preset: str | None, overrides: Mapping[str, Any]) -> tuple[str, Record]:
    """``(preset name, config)`` for a job: defaults → preset → job overrides."""
    preset = preset or entry.default_preset
    if preset not in entry.presets:
        raise ProtocolError(
            ErrorCode.UNKNOWN_PRESET,
            f"method {entry.name} has no preset {preset!r} (presets: {', '.join(sorted(entry.presets))})",
        )
    config = apply_overrides(entry.config_class(), entry.presets[preset])
    return preset, apply_overrides(config, overrides)


def required_models(entry: MethodSpec, preset: str | None) -> tuple[str, ...]:
    """The model roles a job of ``entry`` with ``preset`` (None: its default) needs, from its config's ``required_models()``;
    ProtocolError ``unknown_preset`` for a preset it does not have."""
    _, config = resolve(entry, preset, {})
    required = getattr(config, "required_models", None)
    return tuple(dict.fromkeys(required())) if required else ()


def check_inputs(config: Record) -> None:
    """Run the config's ``check_inputs`` hook, when it has one: the inputs it names outside itself (files), checked
    before a job is accepted; :class:`SchemaError` naming the parameter otherwise."""
    hook = getattr(config, "check_inputs", None)
    if hook is not None:
        hook()


def config_to_json(config: Record) -> dict[str, Any]:
    return to_plain(config)


def config_from_json(cls: type[Record], data: Mapping[str, Any]) -> Record:
    return from_plain(cls, dict(data))


def parse_cli_value(text: str, type_label: str | None = None) -> Any:
    """A ``--set key=value`` value: kept as text for string parameters, JSON otherwise (``3``, ``0.5``, ``true``, ``[1, 2]``)."""
    if type_label == "str":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
