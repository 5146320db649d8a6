"""The input image → the reference view: foreground mask, recentred and rescaled as the teachers expect (Zero-1-to-3, CAD).

Foreground: the image's alpha channel when it has one (segment with any tool — SAM, rembg,
Photoshop — and hand over an RGBA PNG). Otherwise an offline background removal that needs
no weights: the background colour is the median of the image border, pixels far from it in
colour are the object, and the largest connected region with its holes filled is kept. It
suits product shots and renders on a plain backdrop; cluttered photos need a real segmenter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

BACKGROUND_DISTANCE = 0.12
"""RGB distance (0–1 per channel, Euclidean) from the border colour beyond which a pixel is foreground."""


@dataclass
class ReferenceView:
    """The reference image as the method uses it."""

    rgb: torch.Tensor
    """(3, S, S) float in [0, 1], white background."""
    mask: torch.Tensor
    """(1, S, S) float in [0, 1], 1 on the object."""
    source: str
    """How the mask was found: ``alpha`` or ``background`` (border-colour removal)."""


def foreground(image: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray, str]:
    """``(rgb (H, W, 3) float, mask (H, W) float, source)`` from an (H, W, 4) uint8 RGBA image.

    Raises ``ValueError`` when no foreground is found.
    """
    if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 4) uint8 RGBA image, got {image.shape} {image.dtype}")
    rgb = image[..., :3].astype(np.float32) / 255.0
    alpha = image[..., 3].astype(np.float32) / 255.0
    if alpha.min() < 1.0:
        mask, source = alpha, "alpha"
    else:
        mask, source = _remove_background(rgb), "background"
    if (mask > threshold).sum() < 16:
        raise ValueError("the image shows no object: its foreground mask is (nearly) empty")
    return rgb, mask, source


def _remove_background(rgb: np.ndarray) -> np.ndarray:
    """A {0, 1} mask (H, W): far from the border's median colour, largest region, holes filled."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    distance = np.linalg.norm(rgb - np.median(border, axis=0), axis=-1)
    candidate = ndimage.binary_opening(distance > BACKGROUND_DISTANCE, iterations=1)
    labels, count = ndimage.label(candidate)
    if count == 0:
        return np.zeros(rgb.shape[:2], np.float32)
    sizes = ndimage.sum(candidate, labels, index=np.arange(1, count + 1))
    largest = labels == 1 + int(np.argmax(sizes))
    return ndimage.binary_fill_holes(largest).astype(np.float32)


def recentre(rgb: np.ndarray, mask: np.ndarray, size: int, fraction: float, threshold: float = 0.5) -> ReferenceView:
    """Crop to the object's bounding box, scale its larger side to ``fraction``·``size``, centre it on white."""
    rows, cols = np.nonzero(mask > threshold)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop_rgb = torch.from_numpy(np.ascontiguousarray(rgb[top:bottom, left:right])).permute(2, 0, 1)
    crop_mask = torch.from_numpy(np.ascontiguousarray(mask[top:bottom, left:right]))[None]
    scale = fraction * size / max(bottom - top, right - left)
    height, width = max(1, round((bottom - top) * scale)), max(1, round((right - left) * scale))
    crop = F.interpolate(torch.cat([crop_rgb * crop_mask, crop_mask])[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]
    canvas = torch.zeros(4, size, size)
    y, x = (size - height) // 2, (size - width) // 2
    canvas[:, y : y + height, x : x + width] = crop.clamp(0, 1)
    alpha = canvas[3:]
    return ReferenceView(rgb=canvas[:3] + (1 - alpha), mask=alpha, source="")


def reference_view(image: np.ndarray, size: int, fraction: float, threshold: float = 0.5) -> ReferenceView:
    """:func:`foreground` then :func:`recentre`: an RGBA uint8 image (H, W, 4) → the reference view."""
    rgb, mask, source = foreground(image, threshold)
    view = recentre(rgb, mask, size, fraction, threshold)
    view.source = source
    return view
