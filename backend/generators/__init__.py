"""3D generators: a latent (and, for conditioned generators, a condition) in, a mesh asset out.

This is what "Sample variants" and the interpolation slider drive, whatever the kind: a CAD
GAN (latent w, no condition), PRD's adapted Stable Diffusion (latent: the six-plane noise;
condition: the prompt's embedding), or the synthetic world's parametric demo. Every
generator subclasses :class:`Generator`; tools mix latents through :meth:`Generator.mix` and
:meth:`Generator.between` without knowing the kind.

A generator is named by a *generator spec*, resolved by :func:`load` against a
:class:`Catalog` (the method registry builds it from the method specs,
:func:`backend.methods.generator_catalog`; nothing here imports a method):

- a name the catalog lists (``demo``: the CAD generator that ships with the project);
- ``demo:<family>``: the synthetic world's parametric family driven by a latent (see
  :mod:`backend.generators.demo`) — exact ground truth, no network;
- a folder holding ``generator.json`` (``{"kind": ..., ...}``): loaded by the kind's loader;
- a job id: that job's generator folder, as the job store lays it out (a finished CAD distillation).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.glb import MeshAsset
from ..job_layout import GENERATOR_FILE
from .latents import lerp

QUALITIES = ("preview", "full")
"""``preview``: coarse, vertex-coloured, fast enough to scrub; ``full``: UV-textured, exported as a GLB."""


class GeneratorError(ValueError):
    """A generator spec that names nothing loadable, or a latent it cannot use; the message says what was tried."""


class EmptySurface(GeneratorError):
    """This latent's object has no surface (a generator early in training has such latents)."""


@dataclass(frozen=True)
class Latent:
    """What a generator makes a mesh of."""

    code: np.ndarray
    """float32 latent code: (latent_dim,) — or a generator-specific shape such as CAD's w+ (num_ws, w_dim)."""
    condition: np.ndarray | None = None
    """float32 condition (e.g. a prompt embedding (77, 1024)); None for unconditional generators."""


def mix_conditions(a: np.ndarray | None, b: np.ndarray | None, t: float) -> np.ndarray | None:
    """The condition a fraction ``t`` of the way from ``a`` to ``b`` (linear, as prompt embeddings are interpolated);
    None when both are None."""
    if a is None and b is None:
        return None
    if a is None or b is None or np.shape(a) != np.shape(b):
        raise GeneratorError(f"both latents need conditions of one shape to mix, got {None if a is None else np.shape(a)} "
                             f"and {None if b is None else np.shape(b)}")  # fmt: skip
    return lerp(a, b, t)


def check_truncation(truncation: float) -> None:
    if not 0.0 <= truncation <= 1.0:
        raise GeneratorError(f"truncation ψ must be in [0, 1], got {truncation}")


class Generator(ABC):
    """Latent (+ condition) → asset. Subclasses set :attr:`latent_dim` and implement :meth:`code` and :meth:`asset`;
    conditioned ones set :attr:`conditional` and implement :meth:`condition`; generators with more than one
    interpolation space list them in :attr:`spaces` and implement :meth:`between_in`."""

    latent_dim: int
    """Length of a latent code vector."""
    spaces: tuple[str, ...] = ("latent",)
    """Interpolation spaces; the first is the one latents handed to clients live in (where :meth:`mix` works)."""
    conditional: bool = False
    """Whether latents carry a condition (a prompt's embedding); unconditional generators ignore prompts."""

    def condition(self, prompt: str) -> np.ndarray | None:
        """The condition for ``prompt`` (its embedding); None for unconditional generators."""
        return None

    @abstractmethod
    def code(self, seed: int, truncation: float) -> np.ndarray:
        """The latent code (latent_dim,) float32 drawn from ``seed``, pulled towards the mean by ``truncation`` ∈ [0, 1]."""

    def latent(self, seed: int, truncation: float, condition: np.ndarray | None = None) -> Latent:
        """The latent of ``seed`` under ``condition`` (required by conditional generators, dropped by the others)."""
        check_truncation(truncation)
        if self.conditional and condition is None:
            raise GeneratorError("this generator is conditioned on a prompt: give one")
        return Latent(np.asarray(self.code(seed, truncation), np.float32), condition if self.conditional else None)

    def mix_codes(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        """Codes a fraction ``t`` of the way from ``a`` to ``b`` in the default space (linear unless overridden)."""
        return lerp(a, b, t)

    def mix(self, a: Latent, b: Latent, t: float) -> Latent:
        """The latent a fraction ``t`` ∈ [0, 1] of the way from ``a`` to ``b``: codes by :meth:`mix_codes`, conditions linearly."""
        if not 0.0 <= t <= 1.0:
            raise GeneratorError(f"t must be in [0, 1], got {t}")
        if np.shape(a.code) != np.shape(b.code):
            raise GeneratorError(f"latents of different shapes cannot be mixed: {np.shape(a.code)} and {np.shape(b.code)}")
        return Latent(self.mix_codes(np.asarray(a.code, np.float32), np.asarray(b.code, np.float32), t), mix_conditions(a.condition, b.condition, t))

    def between(self, seed_a: int, seed_b: int, t: float, truncation: float, space: str | None = None,
                conditions: tuple[np.ndarray | None, np.ndarray | None] = (None, None)) -> Latent:  # fmt: skip
        """The latent a fraction ``t`` of the way from seed ``seed_a``'s (t = 0) to ``seed_b``'s (t = 1), travelling in
        ``space`` (default: the first of :attr:`spaces`), as a latent of the default space."""
        space = space or self.spaces[0]
        if space not in self.spaces:
            raise GeneratorError(f"this generator interpolates in {', '.join(map(repr, self.spaces))}, not {space!r}")
        if space == self.spaces[0]:
            return self.mix(self.latent(seed_a, truncation, conditions[0]), self.latent(seed_b, truncation, conditions[1]), t)
        return self.between_in(space, seed_a, seed_b, t, truncation, conditions)

    def between_in(self, space: str, seed_a: int, seed_b: int, t: float, truncation: float,
                   conditions: tuple[np.ndarray | None, np.ndarray | None]) -> Latent:  # fmt: skip
        """:meth:`between` for a space other than the default (generators listing more than one space implement it)."""
        raise GeneratorError(f"interpolation in {space!r} is not implemented by {type(self).__name__}")

    @abstractmethod
    def asset(self, latent: Latent, quality: str) -> MeshAsset:
        """The mesh of ``latent`` at ``quality`` (one of :data:`QUALITIES`); :class:`EmptySurface` when it has none."""


Loader = Callable[[dict, Path, str], Generator]
"""``(generator.json contents, its folder, torch device) → Generator``."""


def _no_jobs(job_id: str) -> Path | None:
    return None


@dataclass(frozen=True)
class Catalog:
    """What generator specs can name."""

    kinds: Mapping[str, Loader] = field(default_factory=dict)
    """Generator kind (``generator.json``'s ``kind``) → loader; ``demo`` is built in."""
    named: Mapping[str, Path] = field(default_factory=dict)
    """Name → generator folder (e.g. ``demo``: the shipped CAD demo generator)."""
    job_folder: Callable[[str], Path | None] = _no_jobs
    """Job id → the folder that job saves its generator in; None when there is no such job."""

    def folder_of(self, spec: str) -> Path | None:
        """The folder the generator spec names: a listed name's, a folder holding ``generator.json``, else a job's generator
        folder (which holds none when the job made no generator); None for ``demo:<family>`` and for a spec naming nothing."""
        spec = spec.strip()
        if spec in self.named:
            return Path(self.named[spec])
        if spec.startswith("demo:"):
            return None
        folder = Path(spec).expanduser()
        return folder if (folder / GENERATOR_FILE).is_file() else self.job_folder(spec)


def _builtin_kinds() -> dict[str, Loader]:
    from . import demo

    return {"demo": demo.load}


def load_folder(folder: Path, catalog: Catalog, device: str = "cpu") -> Generator:
    """The generator in ``folder`` (its ``generator.json`` names the kind)."""
    try:
        description = json.loads((folder / GENERATOR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GeneratorError(f"cannot read {folder / GENERATOR_FILE}: {exc}") from None
    kind = description.get("kind") if isinstance(description, dict) else None
    kinds = {**_builtin_kinds(), **catalog.kinds}
    if kind not in kinds:
        raise GeneratorError(f"{folder / GENERATOR_FILE}: unknown generator kind {kind!r} (known: {', '.join(sorted(kinds))})")
    return kinds[kind](description, folder, device)


def load(spec: str, catalog: Catalog, device: str = "cpu") -> Generator:
    """The generator ``spec`` names (see the module docstring); :class:`GeneratorError` saying why not otherwise."""
    spec = spec.strip()
    if spec.startswith("demo:") and spec not in catalog.named:
        from . import demo

        return demo.DemoGenerator(spec.partition(":")[2] or demo.DEFAULT_FAMILY)
    folder = catalog.folder_of(spec)
    if folder is not None:
        if spec not in catalog.named and not (folder / GENERATOR_FILE).is_file():
            raise GeneratorError(f"job {spec} has no generator (only jobs of a generator-distilling method such as CAD have one)")
        return load_folder(folder, catalog, device)
    names = ", ".join(map(repr, sorted(catalog.named)))
    raise GeneratorError(f"generator {spec!r} is not {names + ', ' if names else ''}'demo:<family>', a folder with {GENERATOR_FILE}, "
                         "or the id of a job on this backend")  # fmt: skip
