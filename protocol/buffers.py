"""Bulk data carried in their own frames: opaque blobs and typed arrays.

In a message body a buffer is a reference ``{"__buffer__": i}`` (a blob) or
``{"__array__": i, "dtype": "<f4", "shape": [n, 3]}`` (an array) to frame ``i``
of the message's buffer frames; arrays are raw little-endian bytes whose count
must equal ``prod(shape) * itemsize``. numpy is optional: only
:meth:`WireArray.to_numpy` and :meth:`WireArray.from_numpy` need it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

ITEMSIZE = {
    "|b1": 1, "|u1": 1, "|i1": 1,
    "<u2": 2, "<i2": 2, "<f2": 2,
    "<u4": 4, "<i4": 4, "<f4": 4,
    "<u8": 8, "<i8": 8, "<f8": 8,
}
"""Accepted dtypes (numpy ``dtype.str`` spelling) and their item sizes; nothing else crosses the wire."""

MAX_NDIM = 8
MAX_DIM = 2**40
"""Largest extent of one dimension (numpy refuses shapes whose extents overflow, even when empty)."""


def as_byte_view(data: Any) -> memoryview:
    """A flat, read-only ``uint8`` view of any contiguous buffer (bytes, bytearray, ndarray, zmq frame)."""
    buffer = getattr(data, "buffer", data)  # zmq.Frame exposes its bytes as .buffer
    view = memoryview(buffer)
    if not view.contiguous:
        raise ValueError("buffer must be contiguous")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view.toreadonly()


class Blob:
    """Opaque bytes sent as one frame (an image, a GLB, a result chunk).

    ``sha256`` may carry the digest of the bytes when the sender already knows it,
    so that signing does not hash bulk data again (see :mod:`protocol.signing`).
    """

    __slots__ = ("view", "sha256")

    def __init__(self, data: Any, sha256: bytes | None = None) -> None:
        self.view = as_byte_view(data)
        self.sha256 = sha256

    def __len__(self) -> int:
        return self.view.nbytes

    def __bytes__(self) -> bytes:
        return self.view.tobytes()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Blob):
            return self.view == other.view
        if isinstance(other, (bytes, bytearray, memoryview)):
            return self.view == memoryview(other).cast("B")
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Blob({len(self)} bytes)"


class WireArray:
    """A typed n-d array sent as one frame of raw little-endian bytes.

    ``dtype`` is one of :data:`ITEMSIZE`'s keys, ``shape`` a tuple of non-negative
    ints; the frame must hold exactly ``prod(shape) * itemsize`` bytes.
    """

    __slots__ = ("dtype", "shape", "view")

    def __init__(self, dtype: str, shape: Sequence[int], data: Any) -> None:
        if dtype not in ITEMSIZE:
            raise ValueError(f"dtype {dtype[:16]!r} is not allowed (allowed: {', '.join(sorted(ITEMSIZE))})")
        shape = tuple(shape)
        if len(shape) > MAX_NDIM:
            raise ValueError(f"arrays have at most {MAX_NDIM} dimensions, got {len(shape)}")
        if not all(type(d) is int and 0 <= d <= MAX_DIM for d in shape):
            raise ValueError(f"shape must be ints from 0 to {MAX_DIM}, got {str(list(shape))[:80]}")
        view = as_byte_view(data)
        expected = math.prod(shape) * ITEMSIZE[dtype]
        if view.nbytes != expected:
            raise ValueError(
                f"array of dtype {dtype} and shape {list(shape)} needs {expected} bytes, the buffer has {view.nbytes}"
            )
        self.dtype = dtype
        self.shape = shape
        self.view = view

    @property
    def nbytes(self) -> int:
        return self.view.nbytes

    @classmethod
    def from_numpy(cls, array: Any) -> "WireArray":
        """Wrap a numpy array (converted to little-endian, C-contiguous if needed; no copy otherwise)."""
        import numpy as np

        array = np.ascontiguousarray(array)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        return cls(array.dtype.str, array.shape, array.reshape(-1).view(np.uint8))

    def to_numpy(self) -> Any:
        """A read-only numpy view of the frame's bytes, shape ``self.shape``."""
        import numpy as np

        return np.frombuffer(self.view, dtype=np.dtype(self.dtype)).reshape(self.shape)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WireArray):
            return NotImplemented
        return (self.dtype, self.shape) == (other.dtype, other.shape) and self.view == other.view

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WireArray({self.dtype}, {list(self.shape)})"
