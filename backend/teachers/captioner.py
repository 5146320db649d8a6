"""Image captioning (BLIP through transformers): a prompt for jobs whose artist gave an image but no text.

**On disk** (registry role ``captioner``): a transformers ``BlipForConditionalGeneration`` folder
with its processor and tokenizer files (``tokenizer_config.json`` marks the folder), as
``Salesforce/blip-image-captioning-large``; the tests save a tiny random one of the same layout.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import weight_files
from .model_folder import model_folder, reading

ROLE = "captioner"
MAX_NEW_TOKENS = 30
"""Longest caption, in tokens."""


class Captioner:
    """``captioner(image)`` → a short caption of a PIL image (greedy decoding: the same image, the same caption)."""

    def __init__(self, model: torch.nn.Module, processor) -> None:
        self.model = model.eval().requires_grad_(False)
        self.processor = processor

    def __call__(self, image) -> str:
        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt").to(next(self.model.parameters()).device)
        with torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        return " ".join(self.processor.decode(output[0], skip_special_tokens=True).split())


def load(path: Path | str | None = None, *, device: torch.device | str = "cpu") -> Captioner:
    """The registry's ``captioner`` (or ``path``): :class:`~backend.teachers.registry.MissingModelError` when absent."""
    from transformers import BlipForConditionalGeneration, BlipProcessor

    folder = model_folder(ROLE, path)
    with reading(ROLE):
        processor = BlipProcessor.from_pretrained(folder)
        model = BlipForConditionalGeneration.from_pretrained(folder, variant=weight_files.variant(folder)).to(device)
    return Captioner(model, processor)
