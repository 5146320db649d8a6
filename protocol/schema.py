"""Typed records: frozen dataclasses that convert and validate their own fields.

A :class:`Record` subclass declares fields with type hints and, where a field
needs documentation or bounds, :func:`param`. Constructing one (from Python or
from decoded msgpack via :func:`from_plain`) converts every field to its
declared type and checks its bounds, raising :class:`SchemaError` with the dotted
path of the offending field. Unknown keys in plain data are ignored (forward
compatibility); missing required keys are errors.

The same machinery serves wire messages (:mod:`protocol.messages`) and method
configs in the backend, so there is one validator in the project.
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import math
import re
import types
import typing
from typing import Any, ClassVar, Mapping, Sequence

from .buffers import Blob, WireArray
from .codec import CodecError, check_plain
from .limits import DEFAULT_LIMITS

MISSING = dataclasses.MISSING


class SchemaError(ValueError):
    """A field is missing, of the wrong type or out of bounds; ``path`` names it."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message

    def under(self, prefix: str) -> "SchemaError":
        """The same error, reported one level down (``prefix.path``)."""
        return SchemaError(f"{prefix}.{self.path}" if self.path else prefix, self.reason)


def param(
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    doc: str = "",
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
    max_len: int | None = None,
    pattern: str | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A documented dataclass field with optional bounds.

    ``ge``/``le``/``gt``/``lt`` bound numbers (elementwise for sequences),
    ``max_len`` bounds strings, bytes and containers, ``pattern`` is a regular
    expression a string must match in full, ``choices`` the allowed values.
    """
    metadata = {
        "doc": doc,
        "ge": ge,
        "le": le,
        "gt": gt,
        "lt": lt,
        "max_len": max_len,
        "pattern": re.compile(pattern) if pattern else None,
        "choices": tuple(choices) if choices is not None else None,
    }
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


Plain = Any
"""Annotation for a field holding arbitrary plain data (checked by the codec's rules)."""

_buffers: contextvars.ContextVar[Sequence[Any] | None] = contextvars.ContextVar("buffers", default=None)
_type_hints: dict[type, dict[str, Any]] = {}

INT_MIN, INT_MAX = -(2**63), 2**64 - 1
"""Integers msgpack can carry."""


def type_hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a dataclass (cached)."""
    hints = _type_hints.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _type_hints[cls] = hints
    return hints


class Record:
    """Base of validated frozen dataclasses (decorate subclasses with ``@dataclass(frozen=True)``)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field]]

    def __post_init__(self) -> None:
        hints = type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                converted = convert(value, hints[f.name], f.metadata)
            except SchemaError as exc:
                raise exc.under(f.name) from None
            if converted is not value:
                object.__setattr__(self, f.name, converted)
        self.check()

    def check(self) -> None:
        """Cross-field validation hook; raise :class:`SchemaError` to refuse the record."""


def convert(value: Any, tp: Any, meta: Mapping[str, Any] | None = None) -> Any:
    """Convert ``value`` to type ``tp`` and check the bounds in ``meta``; raise :class:`SchemaError`."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    if tp is Any:
        try:
            check_plain(value, DEFAULT_LIMITS.max_depth)
        except CodecError as exc:
            raise SchemaError("", str(exc)) from None
        return value
    if origin in (typing.Union, types.UnionType):
        return _convert_union(value, typing.get_args(tp), meta)
    if origin in (list, tuple):
        return _convert_sequence(value, tp, origin, meta)
    if origin is dict:
        return _convert_mapping(value, typing.get_args(tp), meta)
    if isinstance(tp, type):
        if issubclass(tp, Record):
            return _convert_record(value, tp)
        if issubclass(tp, enum.Enum):
            return _convert_enum(value, tp)
        if tp in (Blob, WireArray):
            return _convert_buffer(value, tp)
        if tp in _SCALAR_CONVERTERS:
            return _check_bounds(_SCALAR_CONVERTERS[tp](value), meta)
    raise TypeError(f"schema cannot handle type {tp!r}")


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert_union(value: Any, args: tuple[Any, ...], meta: Mapping[str, Any]) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise SchemaError("", "must not be null")
    if type(value) is int and int in args:  # never let an out-of-range int slip through as a float
        return convert(value, int, meta)
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return convert(value, arg, meta)
        except SchemaError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    names = " or ".join(_type_name(a) for a in args)
    raise SchemaError("", f"expected {names}, got {_describe(value)}")


def _convert_sequence(value: Any, tp: Any, origin: type, meta: Mapping[str, Any]) -> Any:
    if not isinstance(value, (list, tuple)):
        raise SchemaError("", f"expected a list, got {_describe(value)}")
    _check_len(value, meta)
    args = typing.get_args(tp)
    item_type = args[0] if args else Any
    item_meta = {k: v for k, v in meta.items() if k != "max_len"}
    items = []
    for i, item in enumerate(value):
        try:
            items.append(convert(item, item_type, item_meta))
        except SchemaError as exc:
            raise exc.under(f"[{i}]") from None
    return tuple(items) if origin is tuple else items


def _convert_mapping(value: Any, args: tuple[Any, ...], meta: Mapping[str, Any]) -> Any:
    if not isinstance(value, dict):
        raise SchemaError("", f"expected a map, got {_describe(value)}")
    _check_len(value, meta)
    value_type = args[1] if len(args) == 2 else Any
    out = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise SchemaError("", "map keys must be strings")
        if len(key) > 256:
            raise SchemaError("", "map keys are at most 256 characters")
        try:
            out[key] = convert(item, value_type, {})
        except SchemaError as exc:
            raise exc.under(key) from None
    return out


def _convert_record(value: Any, tp: type[Record]) -> Record:
    if isinstance(value, tp):
        return value
    if isinstance(value, dict):
        return from_plain(tp, value)
    raise SchemaError("", f"expected a map ({tp.__name__}), got {_describe(value)}")


def _convert_enum(value: Any, tp: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, tp):
        return value
    try:
        return tp(value)
    except (ValueError, TypeError):
        allowed = ", ".join(repr(m.value) for m in tp)
        raise SchemaError("", f"must be one of {allowed}, got {_describe(value)}") from None


def _convert_buffer(value: Any, tp: type) -> Any:
    if isinstance(value, tp):
        return value
    buffers = _buffers.get()
    key = "__buffer__" if tp is Blob else "__array__"
    if not isinstance(value, dict) or key not in value:
        raise SchemaError("", f"expected a {tp.__name__} buffer reference, got {_describe(value)}")
    index = value[key]
    if buffers is None or type(index) is not int or not 0 <= index < len(buffers):
        raise SchemaError("", f"buffer reference {_describe(index)} names no frame of this message")
    if tp is Blob:
        return Blob(buffers[index])
    dtype, shape = value.get("dtype"), value.get("shape")
    if not isinstance(dtype, str) or not isinstance(shape, list):
        raise SchemaError("", "an array reference needs a dtype string and a shape list")
    try:
        return WireArray(dtype, shape, buffers[index])
    except ValueError as exc:
        raise SchemaError("", str(exc)) from None


def _to_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise SchemaError("", f"expected true or false, got {_describe(value)}")
    return value


def _to_int(value: Any) -> int:
    if type(value) is not int:
        raise SchemaError("", f"expected an integer, got {_describe(value)}")
    if not INT_MIN <= value <= INT_MAX:
        raise SchemaError("", "integer out of the 64-bit range")
    return value


def _to_float(value: Any) -> float:
    if type(value) not in (int, float):
        raise SchemaError("", f"expected a number, got {_describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise SchemaError("", f"must be finite, got {value}")
    return value


def _to_str(value: Any) -> str:
    if type(value) is not str:
        raise SchemaError("", f"expected a string, got {_describe(value)}")
    return value


def _to_bytes(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise SchemaError("", f"expected bytes, got {_describe(value)}")
    return bytes(value)


_SCALAR_CONVERTERS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, bytes: _to_bytes}


def _check_len(value: Any, meta: Mapping[str, Any]) -> None:
    max_len = meta.get("max_len")
    if max_len is not None and len(value) > max_len:
        raise SchemaError("", f"at most {max_len} entries/characters allowed, got {len(value)}")


def _check_bounds(value: Any, meta: Mapping[str, Any]) -> Any:
    if isinstance(value, (str, bytes)):
        _check_len(value, meta)
        pattern = meta.get("pattern")
        if pattern is not None and isinstance(value, str) and not pattern.fullmatch(value):
            raise SchemaError("", f"{value[:80]!r} does not match {pattern.pattern}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok, words in (
            ("ge", lambda v, b: v >= b, "≥"),
            ("le", lambda v, b: v <= b, "≤"),
            ("gt", lambda v, b: v > b, ">"),
            ("lt", lambda v, b: v < b, "<"),
        ):
            bound = meta.get(key)
            if bound is not None and not ok(value, bound):
                raise SchemaError("", f"must be {words} {bound}, got {value}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise SchemaError("", f"must be one of {', '.join(map(repr, choices))}, got {_describe(value)}")
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (bool, int, float)):
        return f"{type(value).__name__} {str(value)[:40]}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    return type(value).__name__


def from_plain(cls: type[Record], data: Any, buffers: Sequence[Any] | None = None) -> Any:
    """Build ``cls`` from decoded plain data (a dict); ``buffers`` resolves buffer references."""
    if not isinstance(data, dict):
        raise SchemaError("", f"expected a map ({cls.__name__}), got {_describe(data)}")
    token = _buffers.set(buffers) if buffers is not None else None
    try:
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                kwargs[f.name] = data[f.name]
            elif f.default is MISSING and f.default_factory is MISSING:
                raise SchemaError(f.name, "is required")
        return cls(**kwargs)
    finally:
        if token is not None:
            _buffers.reset(token)


def to_plain(value: Any, buffers: list[Any] | None = None) -> Any:
    """Plain data for ``value`` (records, enums, tuples, buffers); buffers are appended to ``buffers``."""
    if isinstance(value, Record):
        return {f.name: to_plain(getattr(value, f.name), buffers) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_plain(v, buffers) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v, buffers) for k, v in value.items()}
    if isinstance(value, (Blob, WireArray)):
        if buffers is None:
            raise ValueError("this value holds buffers; pass a list to collect them")
        buffers.append(value)
        if isinstance(value, Blob):
            return {"__buffer__": len(buffers) - 1}
        return {"__array__": len(buffers) - 1, "dtype": value.dtype, "shape": list(value.shape)}
    return value
