"""A distilled CAD generator as a self-contained folder, and its applications: sampling, interpolation, meshes.

Folder layout (loadable without the job store that made it)::

    generator.json          {"kind": "cad", "generator": <GeneratorConfig>, "upsampled": bool, ...}
    generator.safetensors   the EMA generator's weights

Latents handed to clients are **w** vectors (w_dim,): a seed's z goes through the mapping network
and is truncated towards w̄ (ψ), so that interpolation — a straight line in w, as EG3D and CAD
interpolate — is what the add-on's slider scrubs. Interpolation in z follows the great circle
instead (:func:`backend.generators.latents.slerp`). A mesh is the triplane density's iso-surface
(marching cubes) with the decoder's colour: vertex colours at preview quality, a baked texture at
full quality.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from protocol.atomic import replacing, write_json

from ...core.frame import Frame
from ...core.export import ExportConfig, extract_surface, textured_asset, vertex_colored_asset
from ...core.glb import MeshAsset
from ...core.triplane import density_activation, triplane_features
from ...core.uv import UnwrapOptions
from ...generators import GENERATOR_FILE, QUALITIES, EmptySurface, Generator, GeneratorError, Latent
from ...generators.latents import slerp
from ..configs import config_from_json, config_to_json
from .config import GeneratorConfig
from .networks import CADGenerator

WEIGHTS_FILE = "generator.safetensors"
IDENTITY = Frame((0.0, 0.0, 0.0), 1.0, 0.0)
"""The frame of generators distilled from a built-in family (already centred in the box)."""
SURFACE_DENSITY = 10.0
"""Iso-level of the density σ when a generator folder names none (EG3D's shape-extraction threshold)."""
CALIBRATION_OPACITY = 0.5
"""A ray this opaque shows the object (:func:`calibrate_surface_density`)..."""
CALIBRATION_MIN_PEAK_OPACITY = 0.05
"""...or, in renders whose most opaque ray stays below that, a ray at least half as opaque as the most opaque one;
renders nowhere this opaque show nothing, and keep :data:`SURFACE_DENSITY`."""
CALIBRATION_SAMPLES_PER_RAY = 96
"""Samples per ray at which :func:`calibrate_surface_density` looks for the density peak."""


def save_generator(folder: Path, model: CADGenerator, upsampled: bool, export: dict, frame: Frame, about: dict, reference_elevation: float = 0.0) -> None:
    """Write ``model`` (its weights and config) to ``folder``; ``upsampled``: meshes use the 3D-upsampled triplanes;
    ``frame``: the family's frame, which meshes are returned in; ``reference_elevation``: the elevation° of the reference
    view it was distilled from (at azimuth 180°), the camera inversion assumes when told none."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: value.detach().contiguous().cpu() for name, value in model.state_dict().items()}
    if not upsampled:
        tensors = {name: value for name, value in tensors.items() if not name.startswith("upsampler_3d.")}
    with replacing(folder / WEIGHTS_FILE) as temporary:
        save_file(tensors, str(temporary))
    description = {
        "kind": "cad", "generator": config_to_json(model.config), "upsampled": upsampled, "export": export,
        "frame": {"centre": list(frame.centre), "scale": frame.scale}, "reference_elevation": float(reference_elevation), "about": about,
    }  # fmt: skip
    write_json(folder / GENERATOR_FILE, description, indent=2)


@torch.no_grad()
def calibrate_surface_density(model: CADGenerator, ws: torch.Tensor, c2w: torch.Tensor, upsampled: bool) -> float:
    """The iso-level of σ whose silhouettes match the renders': of levels spaced geometrically, the one for which "the ray
    crosses σ ≥ level" agrees best (IoU) with "the rendered opacity ≥ ½" (or ≥ half the peak opacity, for renders that
    are translucent everywhere), over the rays of ``ws`` (B, num_ws, w_dim) seen from ``c2w`` (B, 4, 4). A GAN sets its
    own density scale (a short run learns soft, low densities, and white parts on a white background can stay
    translucent); this puts the mesh where the images put the object."""
    from ...core.cameras import get_rays
    from ...core.volume import ray_box, render_rays, stratified

    c = model.config
    planes = model.planes(ws, upsampled=upsampled)
    field = model.field(planes)
    origins, directions = (x.reshape(-1, 3) for x in get_rays(c2w, c.fov_deg, c.render_resolution, c.render_resolution))
    out = render_rays(field, origins, directions, box=(-c.box, c.box), coarse=c.samples, fine=c.importance_samples, perturb=False)
    near, far, _ = ray_box(origins, directions, -c.box, c.box)
    t = stratified(near, far, CALIBRATION_SAMPLES_PER_RAY, perturb=False)
    _, density = field((origins[:, None] + directions[:, None] * t[..., None]).reshape(-1, 3))
    peak = density.reshape(t.shape).amax(dim=1)
    seen = out.opacity >= min(CALIBRATION_OPACITY, 0.5 * float(out.opacity.max()))
    levels = torch.logspace(-2, 2, 41, base=10.0, device=peak.device)
    crossed = peak[None] >= levels[:, None]  # (L, R)
    iou = (crossed & seen).sum(1) / (crossed | seen).sum(1).clamp_min(1)
    return float(levels[int(iou.argmax())]) if float(out.opacity.max()) >= CALIBRATION_MIN_PEAK_OPACITY else SURFACE_DENSITY


class CADGeneratorAsset(Generator):
    """A loaded CAD generator behind the :class:`backend.generators.Generator` interface: latent codes are w (or w+),
    there is no condition (a CAD generator is distilled for one prompt); interpolation runs in w (a line) or in z
    (a great circle, mapped to w)."""

    spaces = ("w", "z")

    def __init__(
        self, model: CADGenerator, upsampled: bool, export: dict, device: str = "cpu", frame: Frame = IDENTITY, reference_elevation: float = 0.0
    ) -> None:
        self.model = model.to(device).eval().requires_grad_(False)
        self.frame = frame
        self.reference_elevation = reference_elevation
        self.upsampled = upsampled
        self.device = device
        self.latent_dim = model.config.w_dim
        self.preview_resolution = int(export.get("preview_resolution", 48))
        self.full_resolution = int(export.get("full_resolution", 128))
        self.texture_size = int(export.get("texture_size", 512))
        self.surface_density = float(export.get("surface_density", SURFACE_DENSITY))

    @property
    def z_dim(self) -> int:
        return self.model.config.z_dim

    def z(self, seed: int) -> np.ndarray:
        """The z (z_dim,) of ``seed``."""
        return np.random.default_rng(seed).standard_normal(self.z_dim).astype(np.float32)

    def w_of_z(self, z: np.ndarray, truncation: float) -> np.ndarray:
        """z (z_dim,) → w (w_dim,), pulled towards w̄ by ``truncation`` ψ."""
        with torch.no_grad():
            w = self.model.mapping(torch.as_tensor(np.asarray(z, np.float32), device=self.device)[None], truncation)
        return w[0].cpu().numpy()

    def code(self, seed: int, truncation: float) -> np.ndarray:
        return self.w_of_z(self.z(seed), truncation)

    def between_in(self, space: str, seed_a: int, seed_b: int, t: float, truncation: float, conditions) -> Latent:
        """z space: the great circle between the seeds' z, mapped to w."""
        if space != "z":
            return super().between_in(space, seed_a, seed_b, t, truncation, conditions)
        return Latent(self.w_of_z(slerp(self.z(seed_a), self.z(seed_b), t), truncation))

    def ws(self, code: np.ndarray) -> torch.Tensor:
        """A w (w_dim,) or w+ (num_ws, w_dim) latent code as ws (1, num_ws, w_dim)."""
        values = torch.as_tensor(np.asarray(code, np.float32), device=self.device)
        if values.shape == (self.latent_dim,):
            return values[None, None].expand(1, self.model.num_ws, -1)
        if values.shape == (self.model.num_ws, self.latent_dim):
            return values[None]
        if values.numel() == self.model.num_ws * self.latent_dim:
            return values.reshape(1, self.model.num_ws, self.latent_dim)
        raise GeneratorError(f"a CAD latent is w ({self.latent_dim},) or w+ ({self.model.num_ws}, {self.latent_dim}), got {tuple(values.shape)}")

    def fields(self, code: np.ndarray):
        """``(density, colour)`` fields of the latent ``code`` (w or w+): points (N, 3) → σ (N,) and RGB (N, 3)."""
        with torch.no_grad():
            planes = self.model.planes(self.ws(code), upsampled=self.upsampled)
        box = (-self.model.config.box, self.model.config.box)

        def decode(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad():
                rgb, raw = self.model.decoder(triplane_features(planes, points.to(self.device, torch.float32)[None], box)[0])
            return rgb[:, :3].clamp(0, 1).cpu(), density_activation(raw).cpu()

        return (lambda p: decode(p)[1]), (lambda p: decode(p)[0])

    def asset(self, latent: Latent, quality: str) -> MeshAsset:
        if quality not in QUALITIES:
            raise GeneratorError(f"quality must be one of {QUALITIES}, got {quality!r}")
        density, color = self.fields(latent.code)
        box = (-self.model.config.box, self.model.config.box)
        if quality == "preview":
            config = ExportConfig(resolution=self.preview_resolution, level=self.surface_density, inside="positive", target_faces=0)
        else:
            config = ExportConfig(resolution=self.full_resolution, level=self.surface_density, inside="positive", target_faces=20_000,
                                  unwrap=UnwrapOptions(texture_size=self.texture_size))  # fmt: skip
        vertices, faces = extract_surface(density, box, config)
        if len(faces) == 0:
            raise EmptySurface("this latent gives an empty surface (no density above the iso-level inside the box)")
        asset = vertex_colored_asset(vertices, faces, color) if quality == "preview" else textured_asset(vertices, faces, color, config)
        return replace(asset, positions=self.frame.to_object(asset.positions.astype(np.float64)).astype(np.float32))


def load(description: dict, folder: Path, device: str) -> CADGeneratorAsset:
    """Loader of ``{"kind": "cad"}`` folders (CAD's method spec names it for the generator kind ``cad``)."""
    try:
        config = config_from_json(GeneratorConfig, description["generator"])
    except Exception as exc:  # noqa: BLE001 - any malformed config is the same user error
        raise GeneratorError(f"{folder / GENERATOR_FILE}: bad generator config: {exc}") from None
    upsampled = bool(description.get("upsampled", False))
    try:
        frame = Frame(tuple(float(c) for c in description["frame"]["centre"]), float(description["frame"]["scale"]), 0.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise GeneratorError(f"{folder / GENERATOR_FILE}: bad frame: {exc}") from None
    try:
        reference_elevation = float(description.get("reference_elevation", 0.0))
    except (TypeError, ValueError):
        raise GeneratorError(f"{folder / GENERATOR_FILE}: bad reference_elevation {description.get('reference_elevation')!r}") from None
    model = CADGenerator(config, with_3d_upsampler=upsampled)
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - missing, truncated or mismatched weights are all 'cannot load'
        raise GeneratorError(f"{folder / WEIGHTS_FILE}: cannot load the weights: {exc}") from None
    return CADGeneratorAsset(model, upsampled, dict(description.get("export", {})), device, frame, reference_elevation)
