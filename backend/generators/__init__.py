"""3D generators: a latent vector in, a mesh asset out (what "Sample variants" and interpolation drive).

A generator is anything with the :class:`Generator` interface. It is named by a
*generator spec*, resolved by :func:`load`:

- ``demo``: the CAD generator that ships with the project (:mod:`backend.methods.cad.demo`),
  for trying variants and interpolation without weights or training;
- ``demo:<family>``: the synthetic world's parametric family driven by a latent (see
  :mod:`backend.generators.demo`) — exact ground truth, no network;
- a folder holding ``generator.json`` (``{"kind": ..., ...}``): loaded by the kind's
  loader (CAD registers ``cad``; ``demo`` folders work too);
- a job id: that job's ``work/generator/`` folder (a finished CAD distillation).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from protocol.messages import ID_PATTERN

from ..core.glb import MeshAsset

GENERATOR_FILE = "generator.json"
"""The file that makes a folder a generator: JSON with at least ``kind``."""
JOB_GENERATOR_DIR = Path("work") / "generator"
"""Where, inside a job's folder, a method that distils a generator saves it."""
QUALITIES = ("preview", "full")
"""``preview``: coarse, vertex-coloured, fast enough to scrub; ``full``: UV-textured, exported as a GLB."""


class GeneratorError(ValueError):
    """A generator spec that names nothing loadable; the message says what was tried."""


class EmptySurface(GeneratorError):
    """This latent's object has no surface (a generator early in training has such latents)."""


class Generator(Protocol):
    """Latent → asset. Latents are float32 vectors of length :attr:`latent_dim`."""

    latent_dim: int
    """Length of a latent vector."""

    def latent(self, seed: int, truncation: float) -> np.ndarray:
        """The latent (D,) float32 drawn from ``seed``, pulled towards the mean latent by ``truncation`` ∈ [0, 1]
        (1: untouched, 0: the mean)."""
        ...

    def mix(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        """The latent (D,) a fraction ``t`` ∈ [0, 1] of the way from ``a`` (D,) to ``b`` (D,)."""
        ...

    def asset(self, latent: np.ndarray, quality: str) -> MeshAsset:
        """The mesh of ``latent`` (D,) at ``quality`` (one of :data:`QUALITIES`)."""
        ...


Loader = Callable[[dict, Path, str], Generator]
"""``(generator.json contents, its folder, torch device) → Generator``."""

_kinds: dict[str, Loader] = {}


def register_kind(kind: str, loader: Loader) -> None:
    """Make folders whose ``generator.json`` says ``"kind": kind`` loadable."""
    _kinds[kind] = loader


def _load_folder(folder: Path, device: str) -> Generator:
    try:
        description = json.loads((folder / GENERATOR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"cannot read {folder / GENERATOR_FILE}: {exc}") from None
    kind = description.get("kind") if isinstance(description, dict) else None
    _register_builtin_kinds()
    if kind not in _kinds:
        raise GeneratorError(f"{folder / GENERATOR_FILE}: unknown generator kind {kind!r} (known: {', '.join(sorted(_kinds))})")
    return _kinds[kind](description, folder, device)


def _register_builtin_kinds() -> None:
    from ..methods.cad import generator as cad
    from . import demo

    register_kind("demo", demo.load)
    register_kind("cad", cad.load)


def load(spec: str, jobs_dir: Path, device: str = "cpu") -> Generator:
    """The generator ``spec`` names (see the module docstring); :class:`GeneratorError` saying why not otherwise."""
    spec = spec.strip()
    if spec == "demo":
        from ..methods.cad.demo import DEMO_GENERATOR

        return _load_folder(DEMO_GENERATOR, device)
    if spec.startswith("demo:"):
        from . import demo

        return demo.DemoGenerator(spec.partition(":")[2] or demo.DEFAULT_FAMILY)
    folder = Path(spec).expanduser()
    if (folder / GENERATOR_FILE).is_file():
        return _load_folder(folder, device)
    if re.fullmatch(ID_PATTERN, spec) and (jobs_dir / spec).is_dir():
        job_folder = jobs_dir / spec / JOB_GENERATOR_DIR
        if not (job_folder / GENERATOR_FILE).is_file():
            raise GeneratorError(f"job {spec} has no generator (only jobs of a generator-distilling method such as CAD have one)")
        return _load_folder(job_folder, device)
    raise GeneratorError(
        f"generator {spec!r} is not 'demo', a folder with {GENERATOR_FILE}, or the id of a job on this backend"
    )
