"""The published PRD checkpoint (``triplane_turbo_sd_v1.pth``) onto :class:`~.student.PRDStudent`: an explicit key map,
every key and shape checked, failing loudly.

Layout (``torch.load(path)["state_dict"]``, from the reference code; ``../shared/prd-facts.md``)::

    geometry.space_generator.peft_layers.layers.{i}.<sub-key>     the adapters, numbered in insertion order
    geometry.{sdf,feature,deformation}_network.layers.{0,2,4}.weight   the MLPs
    geometry.bbox                                                   (2, 3): [[−1, −1, −1], [1, 1, 1]]

Adapter i is ``student.adapters[i]`` (:func:`~.peta.install` lists them in the reference's order). For SD 2.1-base:

====== ==================================================================== ===========================================
index  module                                                               sub-keys
====== ==================================================================== ===========================================
0–31   UNet attention processors: down blocks, up blocks, mid block; in     self (even): ``to_{q,k,v,out}_{xy,xz,yz}_lora_
       each transformer block attn1 (self, per-plane LoRA) then attn2       {geo,tex}.{down,up}.weight``; cross (odd):
       (cross, shared LoRA)                                                 ``to_{q,k,v,out}_lora.{down,up}.weight``
32     VAE decoder mid-block attention (shared LoRA)                        ``to_{q,k,v,out}_lora.{down,up}.weight``
33–96  UNet LoCon: per block (down, up, mid) each resnet's conv1, conv2,    ``down.weight`` (r, in, kh, kw),
       conv_shortcut, then the block's sampler conv                         ``up.weight`` (out, r, 1, 1)
97–129 VAE decoder LoCon: up blocks, then mid block, same pattern           as above
130    the decoder's new conv_out 128 → 64                                  ``weight`` (64, 128, 3, 3), ``bias`` (64,)
====== ==================================================================== ===========================================

The reference loads with ``strict=False`` (and on newer diffusers its LoCon silently never attaches); this loader
refuses a file with a missing, unexpected or misshaped key among those above and names it. Keys outside
``geometry.`` (a Lightning checkpoint's other modules) are ignored and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from .student import PRDStudent

log = logging.getLogger(__name__)

ADAPTER_PREFIX = "geometry.space_generator.peft_layers.layers."
MLP_NAMES = ("sdf_network", "feature_network", "deformation_network")
BBOX_KEY = "geometry.bbox"


class PublishedCheckpointError(ValueError):
    """The file is not the published PRD checkpoint for this student; the message says what does not fit."""


def key_map(student: PRDStudent) -> dict[str, str]:
    """Published key → the student's parameter name, for every adapter and MLP parameter."""
    mapping = {}
    for index, (name, module) in enumerate(student.adapters):
        for sub_key, _ in module.named_parameters():
            mapping[f"{ADAPTER_PREFIX}{index}.{sub_key}"] = f"{name}.{sub_key}"
    for network in MLP_NAMES:
        for sub_key, _ in getattr(student.head, network).named_parameters():
            mapping[f"geometry.{network}.{sub_key}"] = f"head.{network}.{sub_key}"
    return mapping


def read(path: Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a published checkpoint file (tensors only: unpickling anything else is refused)."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PublishedCheckpointError(f"{path}: no such file (download triplane_turbo_sd_v1.pth from the hub repo "
                                       "ZhiyuanthePony/TriplaneTurbo, or point the registry's 'prd_student' role at it)") from None  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a file that is not a plain tensor pickle
        raise PublishedCheckpointError(f"{path}: not a readable PyTorch checkpoint of tensors ({type(exc).__name__}: {exc})") from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, Mapping) else None
    if not isinstance(state, Mapping):
        raise PublishedCheckpointError(f"{path}: holds no state_dict mapping")
    return dict(state)


def load_published(student: PRDStudent, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy the published ``state`` into ``student``'s adapters and MLPs after checking every key and shape;
    :class:`PublishedCheckpointError` naming each problem otherwise (nothing is copied then)."""
    mapping = key_map(student)
    ours = dict(student.named_parameters())
    problems = []
    expected = set(mapping) | {BBOX_KEY}
    geometry_keys = {key for key in state if key.startswith("geometry.")}
    for key in sorted(expected - geometry_keys):
        problems.append(f"missing {key}")
    for key in sorted(geometry_keys - expected):
        problems.append(f"unexpected {key}")
    for key in sorted(expected & geometry_keys - {BBOX_KEY}):
        want, got = tuple(ours[mapping[key]].shape), tuple(state[key].shape)
        if want != got:
            problems.append(f"{key}: shape {got}, the student's {mapping[key]} is {want}")
    if BBOX_KEY in state:
        box = student.config.box
        if tuple(state[BBOX_KEY].shape) != (2, 3) or not torch.allclose(state[BBOX_KEY].float(), torch.tensor([[-box] * 3, [box] * 3])):
            problems.append(f"{BBOX_KEY} is {state[BBOX_KEY].tolist()}, the student's box is [−{box}, {box}]³")
    if problems:
        shown = "; ".join(problems[:12]) + (f"; … {len(problems) - 12} more" if len(problems) > 12 else "")
        raise PublishedCheckpointError(f"{source} does not fit this PRD student ({len(problems)} problems): {shown}")
    ignored = sorted(key for key in state if not key.startswith("geometry."))
    if ignored:
        log.info("%s: ignoring %d keys outside geometry. (e.g. %s)", source, len(ignored), ", ".join(ignored[:3]))
    with torch.no_grad():
        for key, name in mapping.items():
            ours[name].copy_(state[key].to(ours[name].dtype))
