"""The one checkpoint format: a safetensors file holding every tensor, with the JSON of everything else in its header.

A :class:`TrainingState` names what a run needs to continue exactly where it stopped:
modules (their state dicts), optimisers (state tensors, per-parameter scalars and group
hyper-parameters), random generators (their byte states) and plain values (step counters,
ADA's p, …). :func:`save` writes it as one file, atomically, so the tensors and the step
they belong to can never come from two different saves; :func:`saved_step` reads only the
header. No pickle is written or read.

Tensor names: ``module/<name>/<key>``, ``optim/<name>/<param index>/<key>``, ``rng/<name>``.
Header ``distill3d``: ``{"format", "step", "values", "optimizers": {name: {"scalars", "groups"}}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from protocol.atomic import replacing

HEADER_KEY = "distill3d"
"""Key of the JSON header in the safetensors metadata."""
FORMAT = 1
"""Version of the layout above; a file of another version is not read."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (another format, or not a checkpoint at all); the message says which."""


@dataclass
class TrainingState:
    """The live objects a checkpoint saves and restores (restoring writes into them in place)."""

    modules: Mapping[str, torch.nn.Module] = field(default_factory=dict)
    """Name → module; its state dict is saved (parameters and buffers)."""
    optimizers: Mapping[str, torch.optim.Optimizer] = field(default_factory=dict)
    """Name → optimiser over (some of) those modules' parameters."""
    generators: Mapping[str, torch.Generator] = field(default_factory=dict)
    """Name → random generator whose stream must continue where it stopped."""
    values: Mapping[str, Any] = field(default_factory=dict)
    """Name → plain JSON-able value (counters, adaptive probabilities, short lists)."""


def _plain(value: Any) -> Any:
    """JSON-able form of an optimiser hyper-parameter (tuples become lists; tensors their value)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if torch.is_tensor(value):
        return value.item() if value.numel() == 1 else value.tolist()
    return value


def save(path: Path, step: int, state: TrainingState) -> None:
    """Write ``state`` at ``step`` (steps done) to ``path`` atomically: a crash mid-write keeps the previous checkpoint."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def put(name: str, value: torch.Tensor) -> None:
        value = value.detach().cpu().contiguous()
        if value.numel() and value.data_ptr() in seen:  # safetensors refuses tensors that share memory
            value = value.clone()
        if value.numel():
            seen.add(value.data_ptr())
        tensors[name] = value

    for name, module in state.modules.items():
        for key, value in module.state_dict().items():
            put(f"module/{name}/{key}", value)
    optimizers: dict[str, dict[str, Any]] = {}
    for name, optimizer in state.optimizers.items():
        saved = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for index, entries in saved["state"].items():
            for key, value in entries.items():
                if torch.is_tensor(value):
                    put(f"optim/{name}/{index}/{key}", value)
                else:
                    scalars.setdefault(str(index), {})[key] = _plain(value)
        groups = [{key: _plain(value) for key, value in group.items() if key != "params"} for group in saved["param_groups"]]
        optimizers[name] = {"scalars": scalars, "groups": groups}
    for name, generator in state.generators.items():
        put(f"rng/{name}", generator.get_state())
    header = {"format": FORMAT, "step": int(step), "values": dict(state.values), "optimizers": optimizers}
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        save_file(tensors, str(temporary), metadata={HEADER_KEY: json.dumps(header)})


def read_header(path: Path) -> dict[str, Any] | None:
    """The JSON header of the checkpoint at ``path``; None when there is no file. :class:`CheckpointError` when the file
    is not a checkpoint of this format."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        header = json.loads(metadata[HEADER_KEY])
    except Exception as exc:  # noqa: BLE001 - safetensors, json and the OS raise many kinds for a file that is not ours
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is a checkpoint of format {header.get('format') if isinstance(header, dict) else '?'}, "
                              f"this version reads format {FORMAT}")  # fmt: skip
    return header


def saved_step(path: Path) -> int:
    """The step the checkpoint at ``path`` was written at; 0 when there is none (reads only the header)."""
    header = read_header(path)
    return 0 if header is None else int(header["step"])


def load(path: Path, state: TrainingState) -> tuple[int, dict[str, Any]]:
    """Restore what :func:`save` wrote into ``state``'s objects; returns ``(step, values)``. Tensors are read on the CPU
    and moved by ``load_state_dict`` to where each module and optimiser lives. :class:`CheckpointError` when a name the
    state expects is missing or shaped differently (a checkpoint of another configuration)."""
    header = read_header(path)
    if header is None:
        raise CheckpointError(f"there is no checkpoint at {path}")
    tensors = load_file(str(path))
    try:
        for name, module in state.modules.items():
            prefix = f"module/{name}/"
            module.load_state_dict({key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)})
        for name, optimizer in state.optimizers.items():
            _load_optimizer(optimizer, name, tensors, header["optimizers"][name])
        for name, generator in state.generators.items():
            generator.set_state(tensors[f"rng/{name}"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path.name} does not fit this run ({type(exc).__name__}: {exc})") from None
    return int(header["step"]), dict(header["values"])


def _load_optimizer(optimizer: torch.optim.Optimizer, name: str, tensors: Mapping[str, torch.Tensor], saved: Mapping[str, Any]) -> None:
    """Rebuild ``optimizer``'s state dict from the tensors and scalars of ``name``, keeping its own parameter lists."""
    current = optimizer.state_dict()
    if len(saved["groups"]) != len(current["param_groups"]):
        raise ValueError(f"optimiser {name!r} has {len(current['param_groups'])} parameter groups, the checkpoint {len(saved['groups'])}")
    groups = []
    for group, stored in zip(current["param_groups"], saved["groups"]):
        restored = dict(group)
        for key, value in stored.items():
            if key in restored:
                restored[key] = tuple(value) if isinstance(restored[key], tuple) else value
        groups.append(restored)
    state: dict[int, dict[str, Any]] = {}
    for index in (i for group in current["param_groups"] for i in group["params"]):
        prefix = f"optim/{name}/{index}/"
        entry: dict[str, Any] = {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}
        entry.update(saved["scalars"].get(str(index), {}))
        if entry:
            state[index] = entry
    optimizer.load_state_dict({"state": state, "param_groups": groups})
