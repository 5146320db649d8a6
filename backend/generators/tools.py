"""What ``distill3d sample``, ``interpolate`` and ``invert`` do with a generator, without a server: meshes, latents, a PNG sheet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from protocol.atomic import write_json

from ..core.glb import MeshAsset
from ..core.turntable import turntable
from . import EmptySurface, Generator, GeneratorError, Latent, check_truncation

SHEET_VIEWS = 4
"""Views per row of the PNG sheet (one row per mesh)."""
SHEET_SIZE = 160
"""Pixels per view in the sheet."""


MAX_COUNT = 256
"""Most meshes one command makes."""


@dataclass
class Made:
    """One mesh a tool made."""

    name: str
    """File stem: ``variant-<seed>``, ``interp-<k>``."""
    latent: Latent
    """The latent it came from."""
    asset: MeshAsset | None
    """The mesh; None when the latent gives no surface (a generator early in training has such latents)."""
    facts: dict
    """Seed, t, … (written to ``latents.json``; with ``"empty"``, the reason, when there is no mesh)."""


def made(generator: Generator, name: str, latent: Latent, quality: str, facts: dict) -> Made:
    """The mesh of ``latent``, or a :class:`Made` without one when its surface is empty (other errors propagate)."""
    try:
        return Made(name, latent, generator.asset(latent, quality), facts)
    except EmptySurface as exc:
        return Made(name, latent, None, {**facts, "empty": str(exc)})


def conditions(generator: Generator, prompts: tuple[str, ...]) -> tuple[np.ndarray | None, ...]:
    """The generator's condition for each prompt (all None for unconditional generators)."""
    return tuple(generator.condition(prompt) for prompt in prompts)


def sample(generator: Generator, count: int, seed: int, truncation: float, quality: str, prompt: str = "") -> list[Made]:
    """``count`` variants from seeds ``seed`` … ``seed + count − 1`` (under ``prompt`` for a conditioned generator)."""
    if not 1 <= count <= MAX_COUNT:
        raise GeneratorError(f"the number of variants must be in 1…{MAX_COUNT}, got {count}")
    check_truncation(truncation)
    (condition,) = conditions(generator, (prompt,))
    facts = {"prompt": prompt} if generator.conditional else {}
    return [made(generator, f"variant-{s}", generator.latent(s, truncation, condition), quality, {"seed": s, "truncation": truncation, **facts})
            for s in range(seed, seed + count)]  # fmt: skip


def interpolation_latents(generator: Generator, seed_a: int, seed_b: int, steps: int, truncation: float, space: str | None,
                          prompts: tuple[str, str] = ("", "")) -> list[tuple[float, Latent]]:  # fmt: skip
    """``steps`` evenly spaced ``(t, latent)`` from ``seed_a`` (t = 0) to ``seed_b`` (t = 1) in one of the generator's
    interpolation spaces (default: its first); a conditioned generator also moves from ``prompts[0]``'s condition to
    ``prompts[1]``'s."""
    if not 2 <= steps <= MAX_COUNT:
        raise GeneratorError(f"interpolation needs 2…{MAX_COUNT} steps, got {steps}")
    check_truncation(truncation)
    ends = conditions(generator, prompts)
    return [(float(t), generator.between(seed_a, seed_b, float(t), truncation, space, ends)) for t in np.linspace(0.0, 1.0, steps)]


def interpolate(generator: Generator, seed_a: int, seed_b: int, steps: int, truncation: float, space: str | None, quality: str,
                prompts: tuple[str, str] = ("", "")) -> list[Made]:  # fmt: skip
    """The meshes along :func:`interpolation_latents`."""
    space = space or generator.spaces[0]
    return [
        made(generator, f"interp-{k:02d}", latent, quality, {"t": t, "seeds": [seed_a, seed_b], "space": space})
        for k, (t, latent) in enumerate(interpolation_latents(generator, seed_a, seed_b, steps, truncation, space, prompts))
    ]


def sheet(assets: list[MeshAsset]) -> np.ndarray:
    """(rows·S, views·S, 3) uint8: one turntable row per mesh."""
    return np.concatenate([turntable(asset, views=SHEET_VIEWS, size=SHEET_SIZE) for asset in assets], axis=0)


def write(items: list[Made], out: Path) -> list[Path]:
    """``out/<name>.glb`` per mesh (vertex-coloured previews too), ``out/latents.json`` (every latent code, the empty ones
    marked), ``out/<name>.condition.npy`` for conditioned latents and ``out/sheet.png`` (the meshes); GeneratorError,
    writing nothing, when no latent gave a mesh."""
    meshes = [item for item in items if item.asset is not None]
    if not meshes:
        raise GeneratorError(f"none of the {len(items)} latents gives a surface ({items[0].facts['empty']}); train the generator longer")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for item in meshes:
        path = out / f"{item.name}.glb"
        path.write_bytes(item.asset.to_glb())
        written.append(path)
    for item in items:
        if item.latent.condition is not None:
            path = out / f"{item.name}.condition.npy"
            np.save(path, item.latent.condition, allow_pickle=False)
            written.append(path)
    latents = out / "latents.json"
    write_json(latents, [{"name": m.name, **m.facts, "latent": np.asarray(m.latent.code).tolist()} for m in items], indent=1)
    png = out / "sheet.png"
    Image.fromarray(sheet([m.asset for m in meshes])).save(png)
    return written + [latents, png]
