"""GAN inversion of the reference image (paper Sec. 4, supplement D): find the latent whose render matches it.

The latent starts at w̄ and is optimised with Adam on MSE + LPIPS between the generator's
image at the reference camera and the reference, on the engine's loop (progress, cancel,
divergence; no checkpoints: an inversion takes seconds). ``w`` space keeps one w for every layer
(the paper's main text); ``w+`` gives each synthesis layer its own w, which the supplement
finds reconstructs the input more faithfully.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from protocol.errors import ErrorCode

from ...engine.checkpoint import TrainingState
from ...engine.loop import Cadence, Reporter, Stage, Task, descend, run
from ...generators import GeneratorError, Latent
from ..base import JobContext, JobInputs, JobResult, MethodError
from ..generator_jobs import GeneratorCache
from .config import InvertConfig
from .generator import CADGeneratorAsset

@dataclass
class Inversion:
    latent: np.ndarray
    """w (w_dim,) or w+ (num_ws, w_dim) float32."""
    losses: list[float]
    """The loss at every step."""
    image: torch.Tensor
    """(3, S, S) the generator's image of the final latent at the reference camera."""


def render(asset: CADGeneratorAsset, ws: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """The generator's output image (1, 3, S, S) of ``ws`` (1, num_ws, w_dim) at ``c2w`` (1, 4, 4): the branch its meshes use."""
    model = asset.model
    if asset.upsampled:
        return model.render(model.planes(ws, upsampled=True), c2w, model.config.image_resolution, perturb=False).rgb
    return model.image_2d(ws, c2w)[1]


def reconstruction_loss(image: torch.Tensor, target: torch.Tensor, lpips: torch.nn.Module | None, lpips_weight: float) -> torch.Tensor:
    """MSE (+ weighted LPIPS) between images (1, 3, S, S) in [0, 1]."""
    loss = F.mse_loss(image, target)
    if lpips is not None and lpips_weight > 0:
        loss = loss + lpips_weight * lpips(image * 2 - 1, target * 2 - 1).mean()
    return loss


class InversionTask(Task):
    """The latent (w or w+) being optimised."""

    def __init__(self, asset: CADGeneratorAsset, target: torch.Tensor, c2w: torch.Tensor, config: InvertConfig) -> None:
        model, device = asset.model, asset.device
        size = model.config.image_resolution
        self.asset, self.config = asset, config
        self.target = F.interpolate(target[None].to(device, torch.float32), size=(size, size), mode="area")
        self.c2w = c2w[None].to(device, torch.float32)
        self.lpips = None
        if config.lpips_weight > 0:
            from ...teachers.perceptual import load_lpips

            self.lpips = load_lpips(device)
        w_avg = model.mapping.w_avg.detach()
        start = w_avg[None] if config.space == "w" else w_avg[None].expand(model.num_ws, -1)
        self.latent = start.clone().requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.latent], lr=config.lr)
        self.losses: list[float] = []

    def state(self) -> TrainingState:
        return TrainingState(optimizers={"adam": self.optimizer})

    def ws(self) -> torch.Tensor:
        """The latent as ws (1, num_ws, w_dim)."""
        return self.latent.expand(self.asset.model.num_ws, -1)[None]

    def step(self, step: int) -> dict[str, float]:
        loss = reconstruction_loss(render(self.asset, self.ws(), self.c2w), self.target, self.lpips, self.config.lpips_weight)
        self.losses.append(descend(self.optimizer, loss))
        return {"loss": self.losses[-1]}


def invert(asset: CADGeneratorAsset, target: torch.Tensor, c2w: torch.Tensor, config: InvertConfig, reporter: Reporter) -> Inversion:
    """Invert ``target`` (3, H, W) in [0, 1], seen from ``c2w`` (4, 4); progress (stage ``invert``) through ``reporter``,
    which may raise to cancel."""
    task = InversionTask(asset, target, c2w, config)
    run(task, [Stage("invert", config.steps)], Cadence(0, 0), reporter, None, label="inversion")
    with torch.no_grad():
        final = task.ws()[0].detach()
        image = render(asset, final[None], task.c2w)[0].clamp(0, 1).cpu()
    value = final[0] if config.space == "w" else final
    return Inversion(latent=value.cpu().numpy().astype(np.float32), losses=task.losses, image=image)


def image_tensor(image, size: int) -> torch.Tensor:
    """A PIL image → (3, size, size) in [0, 1]: alpha composited onto white, resized (not recentred: the image must be framed
    as the generator's camera frames its objects — radius 2, FOV 49.1°, the object at the centre)."""
    from PIL import Image

    rgba = image.convert("RGBA").resize((size, size), Image.LANCZOS)
    values = torch.from_numpy(np.asarray(rgba, np.float32) / 255.0)
    return (values[..., :3] * values[..., 3:] + (1 - values[..., 3:])).permute(2, 0, 1)


def invert_image(generator, image, elevation_deg: float | None, config: InvertConfig, reporter: Reporter):
    """``(Inversion, full-quality mesh)`` of a PIL ``image`` seen from the reference azimuth (180°) at ``elevation_deg``
    (None: the elevation of the reference the generator was distilled from); ValueError when ``generator`` cannot
    invert (only CAD generators can)."""
    from ...core.cameras import spherical_to_c2w
    from .prior_cache import REFERENCE_AZIMUTH

    if not isinstance(generator, CADGeneratorAsset):
        raise ValueError("only CAD generators can invert an image")
    config_g = generator.model.config
    elevation_deg = generator.reference_elevation if elevation_deg is None else elevation_deg
    c2w = spherical_to_c2w(torch.tensor([elevation_deg]), torch.tensor([REFERENCE_AZIMUTH]), torch.tensor([config_g.radius]))[0]
    result = invert(generator, image_tensor(image, config_g.image_resolution), c2w, config, reporter)
    return result, generator.asset(Latent(result.latent), "full")


class InvertMethod:
    """The input image → the CAD generator's latent that reproduces it (at the job camera's elevation, else at the one the
    generator was distilled from) → that latent's mesh."""

    def __init__(self) -> None:
        self.generators = GeneratorCache()

    def run(self, inputs: JobInputs, config: InvertConfig, context: JobContext) -> JobResult:
        if inputs.image is None:
            raise MethodError("invert needs an input image", ErrorCode.INVALID_PARAMS)
        reporter = context.reporter
        reporter.plan([("invert", config.steps), ("export", 1)])
        generator = self.generators.get(config.generator, context)
        elevation = inputs.camera.elevation_deg if inputs.camera is not None else None  # None: the generator's reference elevation
        try:
            inversion, asset = invert_image(generator, inputs.image, elevation, config, reporter)
        except (GeneratorError, ValueError) as exc:
            raise MethodError(f"cannot invert with {config.generator!r}: {exc}", ErrorCode.INVALID_PARAMS) from None
        reporter.progress("export", 1, 1, f"{len(asset.faces)} faces")
        used = generator.reference_elevation if elevation is None else elevation
        result = JobResult(metadata={"generator": config.generator, "space": config.space, "elevation_deg": used,
                                     "loss_start": inversion.losses[0], "loss_end": inversion.losses[-1]})  # fmt: skip
        result.add_mesh(asset)
        result.arrays["latent"] = inversion.latent
        return result
