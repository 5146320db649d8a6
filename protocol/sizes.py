"""Byte counts for people, the same on both ends of the wire (the backend's messages, the add-on's panel)."""

from __future__ import annotations


def human_size(n: int) -> str:
    """``n`` bytes in decimal units, as the Hugging Face hub shows sizes: ``999 B``, ``1.5 MB``, ``2.6 GB``."""
    power = 0
    while n >= 1000 ** (power + 1) and power < 3:
        power += 1
    return f"{n} B" if power == 0 else f"{n / 1000**power:.1f} {('kB', 'MB', 'GB')[power - 1]}"
