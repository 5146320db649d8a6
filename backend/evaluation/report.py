"""The evaluations' output: numbers as table cells (backend/table.py prints them) and the JSON file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from protocol.atomic import write_json

MISSING = "—"
"""A cell without a number (no surface, no text encoder, a failed run)."""


def cell(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or :data:`MISSING` for None / NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:.{digits}f}"


def mean(values: list[float | None]) -> float | None:
    """Mean of the values that are numbers (None when there are none)."""
    numbers = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(numbers) / len(numbers) if numbers else None


def means(records: list[dict[str, Any]], keys: list[str]) -> dict[str, float | None]:
    """Per key, the mean over ``records`` of its numbers."""
    return {key: mean([record.get(key) for record in records]) for key in keys}


def finite(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None, recursively (JSON has no NaN or infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def write_numbers(path: Path | str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as JSON (atomically, parents created); the path written."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, finite(payload), indent=2)
    return path


def file_label(text: str) -> str:
    """An object spec as a file stem (``random:7@2`` → ``random-7-2``)."""
    stem = Path(text).stem if text.lower().endswith(".glb") else text
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in stem).strip("-.") or "object"
