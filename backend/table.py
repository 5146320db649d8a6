"""Printing benchmark tables."""

from __future__ import annotations

from typing import TextIO


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]], out: TextIO) -> None:
    """A titled, right-aligned text table."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    print(f"\n{title}", file=out)
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line, file=out)
    print("-" * len(line), file=out)
    for row in rows:
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths)), file=out)
