"""The demo generator: a synthetic-world family whose parameters are driven by a Gaussian latent.

Each latent coordinate z_k ~ N(0, 1) maps through the normal CDF to parameter k's
range, so every latent is a valid member, nearby latents are similar members, and
truncation (z ← ψ·z) pulls members towards the family's middle — the behaviour of a
trained 3D GAN's latent space, with an exact ground truth and no weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.export import ExportConfig, extract_surface, textured_asset, vertex_colored_asset
from ..core.glb import MeshAsset
from ..core.uv import UnwrapOptions
from ..teachers.synthetic.families import Family, Parameters, family
from ..teachers.synthetic.shapes import Scene
from . import QUALITIES, Generator, GeneratorError, Latent

DEFAULT_FAMILY = "snowman"
BOX = (-0.75, 0.75)
"""Marching-cubes box: the families stay inside [-0.7, 0.7]³."""
EXPORT = {
    "preview": ExportConfig(resolution=40, target_faces=0),
    "full": ExportConfig(resolution=128, target_faces=20_000, unwrap=UnwrapOptions(texture_size=512)),
}
"""Export settings per quality: a coarse vertex-coloured surface to scrub, a textured 20k-face asset to keep."""


class DemoGenerator(Generator):
    """Latent code (one coordinate per family parameter) → member of a synthetic family → mesh; no condition."""

    def __init__(self, family_name: str = DEFAULT_FAMILY) -> None:
        try:
            self.family: Family = family(family_name)
        except ValueError as exc:
            raise GeneratorError(f"demo generator: {exc}") from None
        self.latent_dim = len(self.family.ranges)

    def code(self, seed: int, truncation: float) -> np.ndarray:
        z = np.random.default_rng(seed).standard_normal(self.latent_dim).astype(np.float32)
        return (truncation * z).astype(np.float32)

    def parameters(self, code: np.ndarray) -> Parameters:
        """The family parameters of ``code`` (D,): each coordinate through Φ into its range."""
        code = np.asarray(code, dtype=np.float64).reshape(-1)
        if code.shape != (self.latent_dim,) or not np.all(np.isfinite(code)):
            raise GeneratorError(f"demo generator ({self.family.name}) takes {self.latent_dim} finite latent values, got {code.shape}")
        cdf = [0.5 * (1.0 + math.erf(z / math.sqrt(2.0))) for z in code]
        return {key: low + (high - low) * u for u, (key, (low, high)) in zip(cdf, self.family.ranges.items())}

    def scene(self, code: np.ndarray) -> Scene:
        return self.family.member(self.parameters(code))

    def asset(self, latent: Latent, quality: str) -> MeshAsset:
        if quality not in QUALITIES:
            raise GeneratorError(f"quality must be one of {QUALITIES}, got {quality!r}")
        scene, config = self.scene(latent.code), EXPORT[quality]
        vertices, faces = extract_surface(scene.sdf, BOX, config)
        if quality == "preview":
            return vertex_colored_asset(vertices, faces, scene.albedo)
        return textured_asset(vertices, faces, scene.albedo, config)


def load(description: dict, folder: Path, device: str) -> DemoGenerator:
    """Loader for ``{"kind": "demo", "family": ...}`` folders."""
    return DemoGenerator(str(description.get("family", DEFAULT_FAMILY)))



