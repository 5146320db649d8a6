"""Resumable training state: the student, the optimiser and the random stream, as safetensors + JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save(path: Path, step: int, module: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> None:
    """Write ``path`` (.safetensors) and its ``.json`` beside it, atomically (a crash mid-write keeps the previous one)."""
    tensors = {f"model.{name}": value.detach().contiguous().cpu() for name, value in module.state_dict().items()}
    scalars: dict[str, dict[str, float]] = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    tensors["rng"] = generator.get_state()
    temporary = path.with_suffix(".tmp")
    save_file(tensors, str(temporary))
    os.replace(temporary, path)
    meta = path.with_suffix(".json")
    meta.with_suffix(".json.tmp").write_text(json.dumps({"step": step, "optimizer_scalars": scalars}))
    os.replace(meta.with_suffix(".json.tmp"), meta)


def saved_step(path: Path) -> int:
    """The step a checkpoint at ``path`` was written at (0 when there is none), without reading its tensors."""
    meta = path.with_suffix(".json")
    if not path.exists() or not meta.exists():
        return 0
    return int(json.loads(meta.read_text())["step"])


def load(path: Path, module: torch.nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator) -> int:
    """Restore what :func:`save` wrote; returns the step to continue from (0 when there is no checkpoint)."""
    if not saved_step(path):
        return 0
    info = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path))
    module.load_state_dict({name[len("model."):]: value for name, value in tensors.items() if name.startswith("model.")})
    state = optimizer.state_dict()
    restored: dict[int, dict] = {}
    for pid in (pid for group in state["param_groups"] for pid in group["params"]):
        entry = {key.split(".", 2)[2]: value for key, value in tensors.items() if key.startswith(f"optim.{pid}.")}
        entry.update(info["optimizer_scalars"].get(str(pid), {}))
        if entry:
            restored[pid] = entry
    optimizer.load_state_dict({"state": restored, "param_groups": state["param_groups"]})
    generator.set_state(tensors["rng"])
    return int(info["step"])
