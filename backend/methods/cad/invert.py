"""GAN inversion of the reference image (paper Sec. 4, supplement D): find the latent whose render matches it.

The latent starts at w̄ and is optimised with Adam on MSE + LPIPS between the generator's
image at the reference camera and the reference. ``w`` space keeps one w for every layer
(the paper's main text); ``w+`` gives each synthesis layer its own w, which the supplement
finds reconstructs the input more faithfully.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .generator import CADGeneratorAsset

SPACES = ("w", "w+")


@dataclass(frozen=True)
class InversionConfig:
    """How the inversion optimises."""

    space: str = "w+"
    """'w' (one w for all layers) or 'w+' (one per layer; better reconstructions, supplement D)."""
    steps: int = 200
    """Adam steps."""
    lr: float = 0.05
    """Adam learning rate on the latent."""
    lpips_weight: float = 1.0
    """Weight of LPIPS next to the pixel MSE (0: MSE only)."""


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


def invert(
    asset: CADGeneratorAsset, target: torch.Tensor, c2w: torch.Tensor, config: InversionConfig = InversionConfig(),
    on_step: Callable[[int, int, float], None] | None = None,
) -> Inversion:
    """Invert ``target`` (3, H, W) in [0, 1], seen from ``c2w`` (4, 4); ``on_step(step, total, loss)`` may raise to cancel."""
    if config.space not in SPACES:
        raise ValueError(f"inversion space must be one of {SPACES}, got {config.space!r}")
    model, device = asset.model, asset.device
    size = model.config.image_resolution
    target = F.interpolate(target[None].to(device, torch.float32), size=(size, size), mode="area")
    c2w = c2w[None].to(device, torch.float32)
    lpips = None
    if config.lpips_weight > 0:
        from .perceptual import load_lpips

        lpips = load_lpips(device)
    w_avg = model.mapping.w_avg.detach()
    start = w_avg[None] if config.space == "w" else w_avg[None].expand(model.num_ws, -1)
    latent = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=config.lr)
    losses = []
    for step in range(config.steps):
        ws = latent.expand(model.num_ws, -1)[None]
        loss = reconstruction_loss(render(asset, ws, c2w), target, lpips, config.lpips_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if on_step:
            on_step(step + 1, config.steps, losses[-1])
    with torch.no_grad():
        final = latent.detach().expand(model.num_ws, -1)
        image = render(asset, final[None], c2w)[0].clamp(0, 1).cpu()
    value = final[0] if config.space == "w" else final
    return Inversion(latent=value.cpu().numpy().astype(np.float32), losses=losses, image=image)


def image_tensor(image, size: int) -> torch.Tensor:
    """A PIL image → (3, size, size) in [0, 1]: alpha composited onto white, resized (not recentred: the image must be framed
    as the generator's camera frames its objects — radius 2, FOV 49.1°, the object at the centre)."""
    from PIL import Image

    rgba = image.convert("RGBA").resize((size, size), Image.LANCZOS)
    values = torch.from_numpy(np.asarray(rgba, np.float32) / 255.0)
    return (values[..., :3] * values[..., 3:] + (1 - values[..., 3:])).permute(2, 0, 1)


def invert_image(generator, image, elevation_deg: float | None, config: InversionConfig = InversionConfig(), on_step=None):
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
    result = invert(generator, image_tensor(image, config_g.image_resolution), c2w, config, on_step)
    return result, generator.asset(result.latent, "full")
