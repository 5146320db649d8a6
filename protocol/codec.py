"""Safe msgpack: plain data only, bounded, no ext types, no pickle.

Decoded values are limited to None, bool, int, float, str, bytes, list and dict
with str keys, at most ``Limits.max_depth`` deep; anything else is a
:class:`CodecError`.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .limits import DEFAULT_LIMITS, Limits


class CodecError(ValueError):
    """The bytes are not acceptable msgpack plain data."""


_SCALARS = (type(None), bool, int, float, str, bytes)


def pack(value: Any) -> bytes:
    """Encode plain data (see module doc); refuses anything msgpack would need ext types for."""
    try:
        return msgpack.packb(value, use_bin_type=True, strict_types=False, datetime=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode: {exc}") from exc


def unpack(data: bytes | memoryview, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode one msgpack value of plain data, enforcing ``limits``.

    Raises :class:`CodecError` for truncated or trailing bytes, bad UTF-8, non-str
    map keys, ext types (timestamps included), oversized containers or deep nesting.
    """
    n = len(data)
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=n,
            max_bin_len=n,
            max_array_len=min(n, limits.max_container_len),
            max_map_len=min(n // 2, limits.max_container_len),
            max_ext_len=0,
        )
    except UnicodeDecodeError as exc:
        raise CodecError(f"invalid UTF-8 in a string: {exc.reason}") from exc
    except msgpack.StackError as exc:
        raise CodecError("nesting too deep") from exc
    except msgpack.ExtraData as exc:
        raise CodecError("trailing bytes after the msgpack value") from exc
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise CodecError(f"malformed msgpack: {exc}") from exc
    check_plain(value, limits.max_depth)
    return value


def check_plain(value: Any, max_depth: int) -> None:
    """Raise :class:`CodecError` unless ``value`` is plain data no deeper than ``max_depth``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > max_depth:
                raise CodecError(f"nesting deeper than {max_depth}")
            if isinstance(item, dict):
                for key, sub in item.items():
                    if not isinstance(key, str):
                        raise CodecError("map keys must be strings")
                    stack.append((sub, depth + 1))
            else:
                stack.extend((sub, depth + 1) for sub in item)
        elif not isinstance(item, _SCALARS):
            raise CodecError(f"unsupported value type {type(item).__name__}")
        elif type(item) is int and not -(2**63) <= item <= 2**64 - 1:
            raise CodecError("integer out of the 64-bit range")
