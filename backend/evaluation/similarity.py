"""CLIP image / text similarity for the evaluations, or the weight-free stand-in when no CLIP weights are on disk.

The papers score with OpenAI CLIP; this project's registry role ``clip`` (OpenCLIP ViT-B/32 by default,
:mod:`backend.teachers.clip`) is used when it is on disk. Otherwise image similarity falls back to
:func:`backend.teachers.synthetic.similarity.image_similarity` — colour histogram + silhouette, meaningful only in the synthetic
world and on another scale than CLIP — and there is no text similarity. :attr:`Similarity.label` names which one
scored, for the table's headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..teachers.synthetic.similarity import image_similarity

ImageSimilarity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``similarity(a (A, 3, H, W), b (B, 3, H', W')) -> (A, B)`` cosine similarities, images in [0, 1]."""
TextSimilarity = Callable[[torch.Tensor, list[str]], torch.Tensor]
"""``similarity(images (A, 3, H, W), prompts) -> (A, P)``."""
CHOICES = ("auto", "clip", "standin")
"""``--clip`` values besides a folder: the registry's CLIP when on disk else the stand-in; CLIP required; the stand-in."""


class SimilarityUnavailable(ValueError):
    """CLIP was asked for and cannot be loaded; the message says why."""


@dataclass(frozen=True)
class Similarity:
    """How images (and prompts) are scored against each other."""

    label: str
    """``CLIP`` or ``stand-in`` (the table's headers say it)."""
    source: str
    """Where the model came from (a folder), or what the stand-in is."""
    image: ImageSimilarity
    """Image-image cosine similarity."""
    text: TextSimilarity | None
    """Image-text cosine similarity; None for the stand-in."""

    def image_scores(self, images: torch.Tensor, reference: torch.Tensor, batch: int = 32) -> torch.Tensor:
        """(N,) similarity of each of ``images`` (N, 3, H, W) to ``reference`` (3, H', W'), in batches of ``batch``."""
        with torch.no_grad():
            return torch.cat([self.image(images[i : i + batch], reference[None])[:, 0].float().cpu() for i in range(0, len(images), batch)])

    def text_scores(self, images: torch.Tensor, prompt: str, batch: int = 32) -> torch.Tensor | None:
        """(N,) similarity of each image to ``prompt``; None without a text encoder (the stand-in)."""
        if self.text is None:
            return None
        with torch.no_grad():
            return torch.cat([self.text(images[i : i + batch], [prompt])[:, 0].float().cpu() for i in range(0, len(images), batch)])


def standin() -> Similarity:
    """The weight-free stand-in (no text similarity)."""
    return Similarity("stand-in", "colour histogram + silhouette (backend.teachers.synthetic.similarity.image_similarity)", image_similarity, None)


def clip_similarity(folder: Path | str | None = None, device: str = "cpu") -> Similarity:
    """CLIP from ``folder`` (None: the registry's ``clip``); :class:`SimilarityUnavailable` when it cannot be loaded."""
    from protocol.errors import ProtocolError

    from ..teachers import clip, registry

    try:
        scorer = clip.load(folder, device=device)
    except (ProtocolError, OSError, ValueError) as exc:
        raise SimilarityUnavailable(f"cannot load CLIP: {getattr(exc, 'message', exc)}") from None
    source = str(folder) if folder is not None else str(registry.resolve(clip.ROLE).path)
    return Similarity("CLIP", source, scorer.image_similarity, scorer.text_similarity)


def load_similarity(choice: str = "auto", device: str = "cpu") -> Similarity:
    """``auto``: the registry's CLIP when it is on disk, else the stand-in; ``clip``: the registry's CLIP (or an error);
    ``standin``: the stand-in; anything else: an open_clip folder."""
    from ..teachers import clip, registry

    if choice == "standin":
        return standin()
    if choice == "auto":
        return clip_similarity(None, device) if registry.resolve(clip.ROLE).present else standin()
    if choice == "clip":
        return clip_similarity(None, device)
    folder = Path(choice).expanduser()
    if not folder.is_dir():
        raise SimilarityUnavailable(f"--clip {choice!r} is not {', '.join(CHOICES)} or an open_clip folder")
    return clip_similarity(folder, device)
