"""LPIPS through the maintained ``lpips`` package: CAD's stage-2 loss and inversion, and ``distill3d eval``.

The package ships its linear calibration layers; the VGG-16 backbone comes from torchvision's
weights file. When that file is in torch's hub cache (``vgg16-397923af.pth``), LPIPS is the real
metric; otherwise (as on machines that cannot download) the same network runs with a random
backbone — the code path and cost are the same, the distances are not perceptual.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

VGG_WEIGHTS = "vgg16-397923af.pth"
"""torchvision's VGG-16 checkpoint name."""


def backbone_weights_present() -> bool:
    """True when torchvision's VGG-16 weights are in torch's hub cache (LPIPS is then the real metric)."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / VGG_WEIGHTS).is_file()


def load_lpips(device: str | torch.device) -> torch.nn.Module:
    """LPIPS-VGG on ``device``, frozen: ``model(a, b)`` with images (B, 3, H, W) in [−1, 1] → (B, 1, 1, 1)."""
    import lpips

    random_backbone = not backbone_weights_present()
    if random_backbone:
        logger.warning("VGG-16 weights (%s) are not in torch's hub cache: LPIPS runs with a random backbone", VGG_WEIGHTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's deprecation notes about how lpips asks for VGG
        model = lpips.LPIPS(net="vgg", pnet_rand=random_backbone, verbose=False).to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model
