"""Recorded memory and time per method, preset and device kind: the data file ``footprints.json`` beside this module.

``distill3d bench footprint --record`` writes it (:mod:`backend.bench.footprint_bench`); the broker lists its rows in
:class:`protocol.messages.MethodInfo`, ``distill3d methods`` prints them and a CUDA worker checks a job against them
before it runs (:mod:`backend.server.memory`). The file is JSON::

    {"footprints": {"<method>": [<Footprint as plain data>, ...], ...}}

A missing file means nothing is measured; an unreadable file or row is reported (:attr:`FootprintTable.problems`) and
left out, never raised: the server must not die of it. Reading imports no torch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from protocol.atomic import write_text
from protocol.errors import ProtocolError
from protocol.messages import Footprint
from protocol.schema import Record, SchemaError, from_plain, to_plain

from ..teachers import registry
from .configs import config_to_json, resolve
from .spec import MethodSpec

log = logging.getLogger(__name__)

FOOTPRINTS_FILE = Path(__file__).with_name("footprints.json")
"""The recorded footprints shipped with the package."""


@dataclass(frozen=True)
class FootprintTable:
    """The rows of one footprints file."""

    rows: dict[str, tuple[Footprint, ...]] = field(default_factory=dict)
    """Method name → its recorded footprints (one per preset and device kind)."""
    problems: tuple[str, ...] = ()
    """Why the file or some of its rows could not be read (those rows are left out)."""

    def of(self, method: str) -> tuple[Footprint, ...]:
        """``method``'s rows, sorted by device kind then preset; () when none is recorded."""
        return self.rows.get(method, ())


def read_footprints(path: Path = FOOTPRINTS_FILE) -> FootprintTable:
    """The footprints in ``path``: empty without problems when the file does not exist; what could not be read is
    named in :attr:`FootprintTable.problems` and left out."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return FootprintTable()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return FootprintTable(problems=(f"{path}: cannot be read ({exc}); no footprints are known",))
    methods = data.get("footprints") if isinstance(data, dict) else None
    if not isinstance(methods, dict):
        return FootprintTable(problems=(f"{path}: no 'footprints' map; no footprints are known",))
    rows: dict[str, tuple[Footprint, ...]] = {}
    problems: list[str] = []
    for method, entries in methods.items():
        if not isinstance(entries, list):
            problems.append(f"{path}: the footprints of {method!r} are not a list")
            continue
        read = []
        for index, entry in enumerate(entries):
            try:
                read.append(from_plain(Footprint, entry))
            except SchemaError as exc:
                problems.append(f"{path}: {method} row {index}: {exc}")
        rows[str(method)] = tuple(sorted(read, key=lambda f: (f.device, f.preset)))
    return FootprintTable(rows, tuple(problems))


@lru_cache(maxsize=1)
def shipped() -> FootprintTable:
    """The package's footprints, read once per process; problems are logged as warnings once."""
    table = read_footprints()
    for problem in table.problems:
        log.warning("footprints: %s", problem)
    return table


def weights_bytes(config: Record) -> int:
    """About the GPU memory the weights of the models a job of ``config`` loads take — the sum of their download sizes
    (:attr:`~backend.teachers.registry.ModelRole.download_size`: fp16 files where the repo has them, as the teachers run
    on CUDA) — a floor under its peak, not a measurement; 0 when the job loads no model, or offloads (``memory.offload``:
    its encoders stay on the CPU)."""
    memory = getattr(config, "memory", None)
    required = getattr(config, "required_models", None)
    if required is None or getattr(memory, "offload", False):
        return 0
    return sum(registry.ROLES[role].download_size for role in dict.fromkeys(required()))


def measured_as(entry: MethodSpec, footprint: Footprint, config: Mapping[str, Any]) -> bool:
    """Whether a job whose resolved config is ``config`` (plain data, as stored with the job) is configured as the job
    ``footprint`` measured (its preset with its params): only then does its peak say what the job needs."""
    try:
        _, measured = resolve(entry, footprint.preset, dict(footprint.params))
    except ProtocolError:  # a row naming a parameter the method no longer has
        return False
    return config_to_json(measured) == dict(config)


def record(path: Path, method: str, footprint: Footprint) -> None:
    """Write ``footprint`` into ``path`` (atomically), replacing the row of the same method, preset and device kind.
    Raises ``ValueError`` when the file exists but cannot be read: a record never overwrites rows it could not read."""
    table = read_footprints(path)
    if table.problems:
        raise ValueError("; ".join(table.problems))
    rows = {name: list(found) for name, found in table.rows.items()}
    kept = [f for f in rows.get(method, []) if (f.preset, f.device) != (footprint.preset, footprint.device)]
    rows[method] = sorted([*kept, footprint], key=lambda f: (f.device, f.preset))
    plain = {"footprints": {name: [to_plain(f) for f in found] for name, found in sorted(rows.items())}}
    write_text(path, json.dumps(plain, indent=1, ensure_ascii=False) + "\n")
