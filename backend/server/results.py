"""Results on disk: one file per item, a manifest, and the SHA-256 of every chunk.

Items are written once by the worker (arrays as raw little-endian C-order
bytes); the broker then serves them chunk by chunk with ``pread``, signing each
chunk with the digest stored here, so bulk bytes are hashed once per result
rather than once per transfer.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import shutil
from pathlib import Path
from typing import Any

from protocol.buffers import ITEMSIZE
from protocol.atomic import write_json
from protocol.codec import CodecError, pack
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import ID_PATTERN, ResultItem, ResultManifest
from protocol.schema import from_plain, to_plain

from ..methods.base import JobResult

DEFAULT_CHUNK_BYTES = 4 << 20
MANIFEST_NAME = "manifest.json"
_ITEM_NAME = re.compile(ID_PATTERN)


def _item_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.bin"


def _as_wire_array(name: str, array: Any) -> Any:
    import numpy as np

    array = np.asarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype.str not in ITEMSIZE:
        raise ValueError(f"result array {name!r} has dtype {array.dtype}, which cannot be sent (allowed: {sorted(ITEMSIZE)})")
    return np.ascontiguousarray(array)


def _write_item(path: Path, data: memoryview, chunk_bytes: int) -> list[str]:
    digests = []
    with open(path, "wb") as f:
        for offset in range(0, data.nbytes, chunk_bytes):
            chunk = data[offset : offset + chunk_bytes]
            f.write(chunk)
            digests.append(hashlib.sha256(chunk).hexdigest())
        f.flush()
        os.fsync(f.fileno())
    return digests


MAX_METADATA_BYTES = 64 << 10


def write_result(directory: Path, result: JobResult, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> ResultManifest:
    """Store ``result`` under ``directory`` (written beside it, then moved into place) and return its manifest."""
    try:
        metadata_bytes = len(pack(result.metadata))
    except CodecError as exc:
        raise ValueError(f"result metadata must be plain data: {exc}") from None
    if metadata_bytes > MAX_METADATA_BYTES:
        raise ValueError(f"result metadata is {metadata_bytes} bytes; at most {MAX_METADATA_BYTES} (put bulk data in arrays)")
    names = list(result.arrays) + list(result.files)
    if len(set(names)) != len(names):
        raise ValueError("result arrays and files must have distinct names")
    for name in names:
        if not _ITEM_NAME.fullmatch(name):
            raise ValueError(f"result item name {name!r} must match {ID_PATTERN}")
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        manifest = _write_items(partial, result, chunk_bytes)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # a failed write (a full disk) gives its space back
        raise
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(partial, directory)
    return manifest


def _write_items(partial: Path, result: JobResult, chunk_bytes: int) -> ResultManifest:
    """Every item of ``result`` and the manifest into the new folder ``partial``."""
    partial.mkdir(parents=True)
    items: list[ResultItem] = []
    digests: dict[str, list[str]] = {}
    for name, raw in result.arrays.items():
        array = _as_wire_array(name, raw)
        view = memoryview(array.reshape(-1).view("u1"))
        digests[name] = _write_item(_item_path(partial, name), view, chunk_bytes)
        items.append(
            ResultItem(
                name=name, kind="array", nbytes=view.nbytes, nchunks=len(digests[name]),
                dtype=array.dtype.str, shape=tuple(int(d) for d in array.shape),
            )
        )
    for name, file in result.files.items():
        view = memoryview(file.data).cast("B")
        digests[name] = _write_item(_item_path(partial, name), view, chunk_bytes)
        items.append(
            ResultItem(name=name, kind="file", nbytes=view.nbytes, nchunks=len(digests[name]), media_type=file.media_type)
        )
    manifest = ResultManifest(items=tuple(items), chunk_bytes=chunk_bytes, metadata=dict(result.metadata))
    write_json(partial / MANIFEST_NAME, {"manifest": to_plain(manifest), "chunk_sha256": digests})
    return manifest


class ResultReader:
    """Serves the chunks of one stored result, as zero-copy views of memory-mapped item files."""

    def __init__(self, directory: Path) -> None:
        data = json.loads((directory / MANIFEST_NAME).read_text())
        self.directory = directory
        self.manifest: ResultManifest = from_plain(ResultManifest, data["manifest"])
        self._digests = {name: [bytes.fromhex(d) for d in ds] for name, ds in data["chunk_sha256"].items()}
        self._maps: dict[str, mmap.mmap] = {}

    def read_chunk(self, name: str, index: int) -> tuple[int, memoryview, bytes]:
        """``(offset, data, sha256)`` of chunk ``index`` of item ``name``; ``data`` views the mapped file."""
        try:
            item = self.manifest.item(name)
        except KeyError:
            known = ", ".join(i.name for i in self.manifest.items)
            raise ProtocolError(ErrorCode.UNKNOWN_ITEM, f"the result has no item {name!r} (items: {known})") from None
        if not 0 <= index < item.nchunks:
            raise ProtocolError(ErrorCode.UNKNOWN_ITEM, f"item {name!r} has chunks 0..{item.nchunks - 1}, not {index}")
        mapped = self._maps.get(name)
        if mapped is None:
            with open(_item_path(self.directory, name), "rb") as f:
                mapped = self._maps[name] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if len(mapped) != item.nbytes:
            raise ProtocolError(ErrorCode.INTERNAL, f"result item {name!r} on disk is not the size its manifest says")
        offset = index * self.manifest.chunk_bytes
        length = min(self.manifest.chunk_bytes, item.nbytes - offset)
        return offset, memoryview(mapped)[offset : offset + length], self._digests[name][index]
