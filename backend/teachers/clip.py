"""CLIP scoring through open_clip: image-image and image-text cosine similarity.

Used by CAD's pose pruning (keep, per view, the candidate sample most similar to the
reference view) and by the evaluation metrics. Images are preprocessed in torch — resized
to the model's input size and normalised with its mean and std — so scoring is batched and
differentiable with respect to the images.

**On disk** (registry role ``clip``): a folder in open_clip's hub layout, as in
``laion/CLIP-ViT-B-32-laion2B-s34B-b79K``: ``open_clip_config.json`` (``{"model_cfg": …,
"preprocess_cfg": …}``) and the weights, ``open_clip_model.safetensors`` or
``open_clip_pytorch_model.bin`` (open_clip 3.3's ``constants.HF_SAFE_WEIGHTS_NAME`` /
``HF_WEIGHTS_NAME``). The folder is loaded with open_clip's own ``local-dir:`` schema, for real
checkpoints and the tests' tiny random ones alike. Text is tokenised by open_clip's tokenizer
for that config — the ``SimpleTokenizer`` for CLIP text towers, whose BPE vocabulary ships
inside the open_clip package, so nothing is downloaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .model_folder import model_folder, reading

logger = logging.getLogger(__name__)

ROLE = "clip"
"""Registry role of the CLIP model."""

WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth")
"""open_clip weight files, in the order open_clip prefers them."""

_PRECISION = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


@dataclass(frozen=True)
class ImagePreprocess:
    """How images are brought to the model's input (open_clip's ``preprocess_cfg``)."""

    size: tuple[int, int]
    """Input (height, width), pixels."""
    mean: tuple[float, float, float]
    """Per-channel mean subtracted after resizing."""
    std: tuple[float, float, float]
    """Per-channel standard deviation divided by."""
    interpolation: str = "bicubic"
    """``bicubic`` or ``bilinear`` (antialiased when shrinking)."""
    resize_mode: str = "shortest"
    """``shortest``: scale the image to cover the input and centre-crop; ``squash``: resize to the input ignoring aspect."""

    def __post_init__(self) -> None:
        if self.resize_mode not in ("shortest", "squash"):
            raise ValueError(f"unsupported CLIP resize_mode {self.resize_mode!r} (use 'shortest' or 'squash')")
        if self.interpolation not in ("bicubic", "bilinear"):
            raise ValueError(f"unsupported CLIP interpolation {self.interpolation!r}")

    @classmethod
    def from_open_clip(cls, cfg: dict[str, Any]) -> "ImagePreprocess":
        size = cfg["size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        return cls(size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]), interpolation=cfg.get("interpolation", "bicubic"), resize_mode=cfg.get("resize_mode", "shortest"))


def preprocess(images: torch.Tensor, spec: ImagePreprocess) -> torch.Tensor:
    """Images (B, 3, H, W) in [0, 1] → the model's normalised input (B, 3, h, w); differentiable."""
    height, width = spec.size
    if spec.resize_mode == "shortest":
        scale = max(height / images.shape[-2], width / images.shape[-1])
        resized = (max(height, round(images.shape[-2] * scale)), max(width, round(images.shape[-1] * scale)))
    else:
        resized = (height, width)
    if resized != tuple(images.shape[-2:]):
        images = F.interpolate(images, size=resized, mode=spec.interpolation, align_corners=False, antialias=True)
    top, left = (images.shape[-2] - height) // 2, (images.shape[-1] - width) // 2
    images = images[..., top : top + height, left : left + width]
    mean = torch.tensor(spec.mean, dtype=images.dtype, device=images.device).reshape(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=images.dtype, device=images.device).reshape(1, 3, 1, 1)
    return (images - mean) / std


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A, B) cosine similarities between the rows of unit embeddings ``a`` (A, D) and ``b`` (B, D)."""
    return a @ b.transpose(0, 1)


class ClipScorer:
    """A frozen open_clip model scoring images against images and prompts."""

    def __init__(self, model: torch.nn.Module, tokenizer: Callable[[list[str]], torch.Tensor], image_preprocess: ImagePreprocess, dtype: torch.dtype = torch.float32) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.image_preprocess = image_preprocess
        self.dtype = dtype

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """Unit embeddings (B, D), float32, of images (B, 3, H, W) in [0, 1]; gradients flow to ``images``."""
        pixels = preprocess(images.to(self.device), self.image_preprocess).to(self.dtype)
        return F.normalize(self.model.encode_image(pixels).float(), dim=-1)

    def text_embeddings(self, prompts: list[str]) -> torch.Tensor:
        """Unit embeddings (P, D), float32, of ``prompts``."""
        with torch.no_grad():
            tokens = self.tokenizer(list(prompts)).to(self.device)
            return F.normalize(self.model.encode_text(tokens).float(), dim=-1)

    def image_similarity(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(A, B) cosine similarity of every image in ``a`` (A, 3, H, W) to every image in ``b`` (B, 3, H', W'), in [−1, 1]."""
        return cosine_matrix(self.image_embeddings(a), self.image_embeddings(b))

    def text_similarity(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """(B, P) cosine similarity of every image (B, 3, H, W) to every prompt."""
        return cosine_matrix(self.image_embeddings(images), self.text_embeddings(prompts))


def weights_file(folder: Path) -> Path:
    """The open_clip weight file in ``folder`` (the one open_clip itself picks); FileNotFoundError if there is none."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder} has open_clip_config.json but no weights ({', '.join(WEIGHT_FILES)})")


def load(path: Path | str | None = None, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> ClipScorer:
    """A :class:`ClipScorer` from an open_clip hub-layout folder (None: the registry's ``clip``); nothing is downloaded.

    Raises :class:`~backend.teachers.registry.MissingModelError` when the folder or its
    ``open_clip_config.json`` is missing, :class:`~backend.teachers.registry.BrokenModelError` when the weights are.
    """
    import open_clip

    if dtype not in _PRECISION:
        raise ValueError(f"unsupported CLIP dtype {dtype} (use one of {', '.join(map(str, _PRECISION))})")
    folder = model_folder(ROLE, path)
    with reading(ROLE):
        weights = weights_file(folder)
        name = f"local-dir:{folder}"
        model = open_clip.create_model(name, precision=_PRECISION[dtype], device=device, require_pretrained=True)
        model.eval().requires_grad_(False)
        spec = ImagePreprocess.from_open_clip(open_clip.get_model_preprocess_cfg(model))
        tokenizer = open_clip.get_tokenizer(name)
    logger.info("loaded CLIP from %s (%s) on %s", folder, weights.name, device)
    return ClipScorer(model, tokenizer, spec, dtype)
