"""Which weight files of a model folder are read: one set per folder, the fp16 variant where the folder has one,
safetensors before pickles.

``distill3d models pull`` fetches exactly that set from a hub repo (:func:`choose` on the repo's paths) and the
loaders tell ``from_pretrained`` the :func:`variant` of each folder, so what is fetched is what is read. Names
follow diffusers and transformers: ``diffusion_pytorch_model.fp16.safetensors``, ``model.fp16-00001-of-00002.safetensors``,
``model.safetensors.index.fp16.json``.

Torch-free (the registry uses it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

FP16 = "fp16"
"""The variant preferred where a folder has it: half the bytes, and what the teachers run in on CUDA anyway."""

_FORMATS = {"safetensors": "safetensors", "bin": "pickle", "pth": "pickle"}
"""File-name parts that make a file a weight file (or a weight index), by format."""
_PLAIN_PARTS = {"safetensors", "bin", "pth", "index", "json"}
"""File-name parts that are no variant name."""
_SHARD = re.compile(r"-\d+-of-\d+$")
DOWNLOADING_SUFFIXES = (".distill3d-partial", ".incomplete")
"""Files still being fetched (``distill3d models pull``'s, huggingface_hub's): never weights, whatever else they are named."""

Kind = tuple[str | None, str]
"""(variant or None for the plain weights, format) of a weight file."""

PREFERENCE: tuple[Kind, ...] = ((FP16, "safetensors"), (None, "safetensors"), (FP16, "pickle"), (None, "pickle"))
"""The kinds of weights a folder is read in, best first; other variants (``fp16_ema``, ``non_ema``) are never read."""


def kind(name: str) -> Kind | None:
    """The :data:`Kind` of the file called ``name``; None when it holds no weights (or is still being fetched)."""
    if name.endswith(DOWNLOADING_SUFFIXES):
        return None
    parts = name.split(".")[1:]
    formats = [_FORMATS[part] for part in parts if part in _FORMATS]
    if not formats:
        return None
    extra = [stripped for part in parts if (stripped := _SHARD.sub("", part)) and stripped not in _PLAIN_PARTS]
    return (".".join(extra) or None, formats[0])


def _best(kinds: Iterable[Kind | None]) -> Kind | None:
    present = set(kinds)
    return next((k for k in PREFERENCE if k in present), None)


def choose(paths: Iterable[str]) -> list[str]:
    """``paths`` (``/``-separated, relative to a repo) less the weight files no loader reads: of each folder's weight
    files only those of its best :data:`PREFERENCE` kind are kept. Sorted."""
    kept: list[str] = []
    weights: dict[str, dict[Kind, list[str]]] = {}
    for path in paths:
        folder, _, name = path.rpartition("/")
        found = kind(name)
        if found is None:
            kept.append(path)
        else:
            weights.setdefault(folder, {}).setdefault(found, []).append(path)
    for by_kind in weights.values():
        best = _best(by_kind)
        kept += by_kind[best] if best else []
    return sorted(kept)


def variant(folder: Path) -> str | None:
    """What to pass ``from_pretrained`` as ``variant`` for ``folder``: the variant of its best weights (None: the plain ones)."""
    best = _best(kind(entry.name) for entry in folder.iterdir()) if folder.is_dir() else None
    return best[0] if best else None


def with_variant(name: str, variant: str | None) -> str:
    """``name`` as the ``variant`` of it is called (``model.safetensors`` → ``model.fp16.safetensors``), as diffusers names it."""
    if variant is None:
        return name
    stem, _, suffix = name.rpartition(".")
    return f"{stem}.{variant}.{suffix}"
