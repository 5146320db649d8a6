"""Image metrics of renders against reference images: PSNR on the objects' bounding box, LPIPS.

Images are (B, 3, H, W) float in [0, 1], objects composited on white. PSNR is measured on the bounding box of the
union of the two images' silhouettes (not the full frame, whose white margin would raise it with the image's size),
so a missing or an extra part counts; identical images score :data:`PSNR_CAP` rather than infinity.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from ..teachers import perceptual

log = logging.getLogger(__name__)

PSNR_CAP = 100.0
"""PSNR (dB) of identical images (an MSE of 10⁻¹⁰ on [0, 1] images), so that means and JSON stay finite."""

Box = tuple[int, int, int, int]
"""``(top, bottom, left, right)`` pixel rows and columns, bottom and right exclusive."""


def object_box(masks: torch.Tensor, threshold: float = 0.5) -> Box:
    """The bounding box of the union of ``masks`` (N, H, W) (coverage ≥ ``threshold``); the whole image when they are empty."""
    covered = (masks >= threshold).any(dim=0)
    rows, columns = covered.any(dim=1).nonzero().flatten(), covered.any(dim=0).nonzero().flatten()
    if len(rows) == 0:
        return 0, masks.shape[-2], 0, masks.shape[-1]
    return int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1


def psnr(a: torch.Tensor, b: torch.Tensor, box: Box | None = None) -> torch.Tensor:
    """(B,) PSNR in dB of images ``a`` against ``b`` (B, 3, H, W) in [0, 1], on ``box`` (None: the whole image), capped at :data:`PSNR_CAP`."""
    if a.shape != b.shape:
        raise ValueError(f"PSNR needs images of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if box is not None:
        top, bottom, left, right = box
        a, b = a[..., top:bottom, left:right], b[..., top:bottom, left:right]
    mse = ((a.float() - b.float()) ** 2).mean(dim=(1, 2, 3))
    return (-10.0 * torch.log10(mse.clamp_min(10 ** (-PSNR_CAP / 10)))).clamp_max(PSNR_CAP)


@dataclass
class Lpips:
    """LPIPS-VGG (:func:`backend.teachers.perceptual.load_lpips`) and whether its backbone has the real VGG-16 weights."""

    model: torch.nn.Module
    """``model(a, b)`` with images in [−1, 1] → (B, 1, 1, 1)."""
    real: bool
    """False: torchvision's VGG-16 weights are not in torch's hub cache and the backbone is random (not perceptual)."""

    @property
    def label(self) -> str:
        """Column header: ``LPIPS``, or ``LPIPS(rand)`` for the random backbone."""
        return "LPIPS" if self.real else "LPIPS(rand)"

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(B,) distances between images ``a`` and ``b`` (B, 3, H, W) in [0, 1]; 0 for identical images."""
        device = next(self.model.parameters()).device
        with torch.no_grad():
            return self.model(a.to(device) * 2 - 1, b.to(device) * 2 - 1).reshape(-1).cpu()


def load_lpips(device: str = "cpu") -> Lpips:
    """:class:`Lpips` on ``device`` (the random backbone, with a warning, where the VGG weights are missing)."""
    return Lpips(perceptual.load_lpips(device), perceptual.backbone_weights_present())


def mean(values: list[float]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan
