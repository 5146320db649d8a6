"""Monocular depth (DPT / MiDaS through transformers): relative inverse depth of an image, for methods that want one.

DTC123 uses it as the reference view's depth for the Pearson depth loss (scale and shift do not
matter there); CAD's ControlNet-depth refinement uses it as the control image of each Zero123
sample. Images are preprocessed in torch — resized to the processor's size and normalised with
its mean and std — so a batch runs in one call.

**On disk** (registry role ``depth``): a transformers folder of a ``DPTForDepthEstimation``
(``config.json``, the weights, ``preprocessor_config.json``), as ``Intel/dpt-large``; the tests
save tiny random ones of the same class and layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import weight_files
from .model_folder import model_folder, reading

ROLE = "depth"


@dataclass(frozen=True)
class DepthPreprocess:
    """The processor's resize and normalisation."""

    size: tuple[int, int]
    """(height, width) the model takes."""
    mean: tuple[float, float, float]
    """Per-channel mean subtracted from images in [0, 1]."""
    std: tuple[float, float, float]
    """Per-channel std divided by."""

    @classmethod
    def from_folder(cls, folder: Path) -> "DepthPreprocess":
        config = json.loads((folder / "preprocessor_config.json").read_text(encoding="utf-8"))
        size = config.get("size", {"height": 384, "width": 384})
        return cls((int(size["height"]), int(size["width"])), tuple(config.get("image_mean", (0.5,) * 3)), tuple(config.get("image_std", (0.5,) * 3)))


class DepthEstimator:
    """``estimator(images (B, 3, H, W) in [0, 1])`` → (B, 1, H, W) relative inverse depth (near = large, arbitrary scale)."""

    def __init__(self, model: torch.nn.Module, preprocess: DepthPreprocess) -> None:
        self.model = model.eval().requires_grad_(False)
        self.preprocess = preprocess

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        p = self.preprocess
        pixels = F.interpolate(images.to(self.device, torch.float32), size=p.size, mode="bilinear", antialias=True, align_corners=False)
        pixels = (pixels - torch.tensor(p.mean, device=self.device)[:, None, None]) / torch.tensor(p.std, device=self.device)[:, None, None]
        with torch.no_grad():
            disparity = self.model(pixel_values=pixels).predicted_depth[:, None]
        return F.interpolate(disparity, size=images.shape[-2:], mode="bilinear", align_corners=False)


def load(path: Path | str | None = None, *, device: torch.device | str = "cpu") -> DepthEstimator:
    """The registry's ``depth`` model (or ``path``): :class:`~backend.teachers.registry.MissingModelError` when absent."""
    from transformers import DPTForDepthEstimation

    folder = model_folder(ROLE, path)
    with reading(ROLE):
        model = DPTForDepthEstimation.from_pretrained(folder, variant=weight_files.variant(folder)).to(device)
        preprocess = DepthPreprocess.from_folder(folder)
    return DepthEstimator(model, preprocess)
