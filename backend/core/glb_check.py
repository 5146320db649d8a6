"""A cheap look at a GLB file before a job relies on it: its header and JSON chunk, no mesh decoded (no torch, no trimesh).

A job that reads a GLB (DTC123's synthetic target) is refused at submit when the file is plainly not one, instead of
failing in the worker; the worker's full load still catches a damaged binary buffer.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

GLB_MAGIC = b"glTF"
GLB_VERSION = 2
JSON_CHUNK = b"JSON"
HEADER = struct.Struct("<4sIII4s")
"""Magic, version, total length, then the first chunk's length and type (the JSON chunk, by the spec)."""
MAX_JSON_BYTES = 16 << 20
"""A JSON chunk larger than this is refused unread (real ones are kilobytes; the server checks at submit, where no
request may take long)."""


def check_glb(path: Path) -> None:
    """Raise :class:`ValueError` saying what is wrong unless ``path`` is a binary glTF 2 file, as long as its header says,
    whose JSON chunk parses and declares at least one mesh. Reads the header and the JSON chunk only."""
    try:
        with path.open("rb") as file:
            json_length = _json_length(path, file.read(HEADER.size), path.stat().st_size)
            document = _json(path, file.read(json_length))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not isinstance(document.get("meshes"), list) or not document["meshes"]:
        raise ValueError(f"{path} holds no mesh")


def _json_length(path: Path, head: bytes, size: int) -> int:
    """The length of the JSON chunk the header ``head`` of a ``size``-byte file announces; ValueError unless the header
    is a glTF 2 one whose lengths fit the file."""
    if len(head) < HEADER.size or head[:4] != GLB_MAGIC:
        raise ValueError(f"{path} is not a GLB file (a binary glTF file starts with 'glTF')")
    _, version, length, json_length, chunk_type = HEADER.unpack(head)
    if version != GLB_VERSION:
        raise ValueError(f"{path} is glTF version {version}; only version {GLB_VERSION} is read")
    if length != size:
        raise ValueError(f"{path} is {size} bytes but its header says {length}: the file is truncated or damaged")
    if chunk_type != JSON_CHUNK or json_length > size - HEADER.size:
        raise ValueError(f"{path} is damaged: its first chunk is not a JSON chunk that fits the file")
    if json_length > MAX_JSON_BYTES:
        raise ValueError(f"{path} has a {json_length}-byte JSON chunk; at most {MAX_JSON_BYTES} are read")
    return json_length


def _json(path: Path, data: bytes) -> dict:
    """The JSON chunk as a dict; ValueError when it is not one."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is damaged: its JSON chunk does not parse ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path} is damaged: its JSON chunk is not an object")
    return document
