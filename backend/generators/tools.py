"""What ``distill3d sample``, ``interpolate`` and ``invert`` do with a generator, without a server: meshes, latents, a PNG sheet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from protocol.atomic import write_json

from ..core.glb import MeshAsset
from ..core.turntable import turntable
from . import EmptySurface, Generator, GeneratorError

SHEET_VIEWS = 4
"""Views per row of the PNG sheet (one row per mesh)."""
SHEET_SIZE = 160
"""Pixels per view in the sheet."""


MAX_COUNT = 256
"""Most meshes one command makes."""


def check_truncation(truncation: float) -> None:
    if not 0.0 <= truncation <= 1.0:
        raise GeneratorError(f"truncation ψ must be in [0, 1], got {truncation}")


@dataclass
class Made:
    """One mesh a tool made."""

    name: str
    """File stem: ``variant-<seed>``, ``interp-<k>``."""
    latent: np.ndarray
    """The latent it came from."""
    asset: MeshAsset | None
    """The mesh; None when the latent gives no surface (a generator early in training has such latents)."""
    facts: dict
    """Seed, t, … (written to ``latents.json``; with ``"empty"``, the reason, when there is no mesh)."""


def made(generator: Generator, name: str, latent: np.ndarray, quality: str, facts: dict) -> Made:
    """The mesh of ``latent``, or a :class:`Made` without one when its surface is empty (other errors propagate)."""
    try:
        return Made(name, latent, generator.asset(latent, quality), facts)
    except EmptySurface as exc:
        return Made(name, latent, None, {**facts, "empty": str(exc)})


def sample(generator: Generator, count: int, seed: int, truncation: float, quality: str) -> list[Made]:
    """``count`` variants from seeds ``seed`` … ``seed + count − 1``."""
    if not 1 <= count <= MAX_COUNT:
        raise GeneratorError(f"the number of variants must be in 1…{MAX_COUNT}, got {count}")
    check_truncation(truncation)
    return [made(generator, f"variant-{s}", generator.latent(s, truncation), quality, {"seed": s, "truncation": truncation}) for s in range(seed, seed + count)]


def interpolation_latents(generator: Generator, seed_a: int, seed_b: int, steps: int, truncation: float, space: str) -> list[tuple[float, np.ndarray]]:
    """``steps`` evenly spaced ``(t, latent)`` from ``seed_a`` (t = 0) to ``seed_b`` (t = 1): a line in w, or a great circle in z."""
    if not 2 <= steps <= MAX_COUNT:
        raise GeneratorError(f"interpolation needs 2…{MAX_COUNT} steps, got {steps}")
    check_truncation(truncation)
    ts = np.linspace(0.0, 1.0, steps)
    if space == "w":
        a, b = generator.latent(seed_a, truncation), generator.latent(seed_b, truncation)
        return [(float(t), generator.mix(a, b, float(t))) for t in ts]
    if space == "z":
        if not hasattr(generator, "w_of_z"):
            raise GeneratorError("z-space interpolation needs a generator with a mapping network (a CAD generator)")
        from ..methods.cad.generator import slerp

        za, zb = generator.z(seed_a), generator.z(seed_b)
        return [(float(t), generator.w_of_z(slerp(za, zb, float(t)), truncation)) for t in ts]
    raise GeneratorError(f"interpolation space must be 'w' or 'z', got {space!r}")


def interpolate(generator: Generator, seed_a: int, seed_b: int, steps: int, truncation: float, space: str, quality: str) -> list[Made]:
    """The meshes along :func:`interpolation_latents`."""
    return [
        made(generator, f"interp-{k:02d}", latent, quality, {"t": t, "seeds": [seed_a, seed_b], "space": space})
        for k, (t, latent) in enumerate(interpolation_latents(generator, seed_a, seed_b, steps, truncation, space))
    ]


def sheet(assets: list[MeshAsset]) -> np.ndarray:
    """(rows·S, views·S, 3) uint8: one turntable row per mesh."""
    return np.concatenate([turntable(asset, views=SHEET_VIEWS, size=SHEET_SIZE) for asset in assets], axis=0)


def write(items: list[Made], out: Path) -> list[Path]:
    """``out/<name>.glb`` per mesh (vertex-coloured previews too), ``out/latents.json`` (every latent, the empty ones
    marked) and ``out/sheet.png`` (the meshes); GeneratorError, writing nothing, when no latent gave a mesh."""
    meshes = [item for item in items if item.asset is not None]
    if not meshes:
        raise GeneratorError(f"none of the {len(items)} latents gives a surface ({items[0].facts['empty']}); train the generator longer")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for item in meshes:
        path = out / f"{item.name}.glb"
        path.write_bytes(item.asset.to_glb())
        written.append(path)
    latents = out / "latents.json"
    write_json(latents, [{"name": m.name, **m.facts, "latent": np.asarray(m.latent).tolist()} for m in items], indent=1)
    png = out / "sheet.png"
    Image.fromarray(sheet([m.asset for m in meshes])).save(png)
    return written + [latents, png]
