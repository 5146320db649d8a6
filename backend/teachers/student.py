"""Trainable diffusers models — a student UNet with adapters, as PRD adapts Stable Diffusion — loaded through the
teachers' folder loader (the registry's folders, the same checks and errors) without the teachers' freeze.

Adapters are peft's LoRA layers injected by diffusers' own adapter path (``add_adapter``): the base weights are
frozen, the low-rank A/B matrices train, and B starts at zero so the adapted model starts as the base one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .latent_diffusion import Runtime, load_module
from .model_folder import model_folder, reading

ROLE = "stable_diffusion"
"""The registry role the student UNet is read from by default (PRD adapts Stable Diffusion 2.1 base)."""


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA adapter."""

    rank: int = 16
    """Rank r of the update B·A (PRD's PETA: 16)."""
    alpha: float | None = None
    """Scale numerator: the update is (alpha / r)·B·A; None: alpha = r (scale 1)."""
    target_modules: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")
    """Names (suffixes) of the linear or conv layers that get the adapter; default: every attention projection."""
    name: str = "default"
    """Adapter name (several adapters can live side by side)."""

    def __post_init__(self) -> None:
        if self.rank < 1 or not self.target_modules:
            raise ValueError(f"a LoRA adapter needs rank ≥ 1 and at least one target module, got {self}")


def load_unet(
    path: Path | str | None = None, *, role: str = ROLE, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> torch.nn.Module:
    """The trainable ``UNet2DConditionModel`` of a pipeline folder (default: the registry's ``role`` folder) in train mode,
    every parameter trainable, in ``dtype`` (float32 master weights by default: optimisers need them)."""
    from diffusers import UNet2DConditionModel

    folder = model_folder(role, path)
    with reading(role):
        return load_module(UNet2DConditionModel, folder, "unet", Runtime.create(device, dtype), trainable=True)


def add_lora(module: torch.nn.Module, spec: LoraSpec = LoraSpec()) -> list[torch.nn.Parameter]:
    """Freeze ``module`` and give it the LoRA adapter ``spec``; returns the adapter's parameters (the trainable ones).
    ValueError when no layer matches ``spec.target_modules``."""
    from peft import LoraConfig

    module.requires_grad_(False)
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha or spec.rank, target_modules=list(spec.target_modules), init_lora_weights=True)
    module.add_adapter(config, adapter_name=spec.name)
    parameters = [p for n, p in module.named_parameters() if f".{spec.name}." in n and "lora_" in n]
    for parameter in parameters:
        parameter.requires_grad_(True)
    return parameters
