"""Data parallelism under ``torchrun`` for the engine's training runs: the device of a rank, gradient averaging, replica checks."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import MethodError

def device_for(requested: str, local_rank: int) -> str:
    """The torch device of local rank ``local_rank`` for ``--device`` ``requested`` (auto, cpu or cuda)."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        raise MethodError("--device cuda: no CUDA device is visible")
    return f"cuda:{local_rank % torch.cuda.device_count()}"


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Average the gradients of ``parameters`` over the processes of the group (no-op alone). A parameter without a
    gradient here counts as zero, so every process reduces the same buffer even when a step reached different
    parameters on different processes (a PRD object without a surface skips its mesh path); it gets the average when
    any process had a gradient for it, and keeps none otherwise."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    parameters = list(parameters)
    if not parameters:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in parameters])
    present = torch.tensor([float(p.grad is not None) for p in parameters], device=flat.device)
    dist.all_reduce(flat)
    dist.all_reduce(present)
    flat /= dist.get_world_size()
    offset = 0
    for parameter, had in zip(parameters, present.tolist()):
        if had > 0:
            parameter.grad = flat[offset : offset + parameter.numel()].view_as(parameter).clone()
        offset += parameter.numel()

def check_replicas_agree(module: torch.nn.Module) -> None:
    """Raise when the processes' copies of ``module`` differ (data parallelism keeps them equal step by step)."""
    checksum = torch.stack([p.detach().double().sum() for p in module.parameters()]).cpu()
    gathered = [torch.zeros_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, checksum)
    if any(not torch.allclose(g, gathered[0], rtol=1e-6) for g in gathered):
        raise RuntimeError("the data-parallel replicas of the model diverged")


@dataclass(frozen=True)
class Process:
    """This process's place in a (possibly one-process) data-parallel run."""

    device: str
    """Its torch device."""
    rank: int
    """Its rank (0: the main process, which previews, checkpoints and saves)."""
    world: int
    """How many processes train together."""

    def barrier(self) -> None:
        """Wait for every process (no-op alone)."""
        if self.world > 1:
            dist.barrier()


@contextmanager
def data_parallel(requested_device: str) -> Iterator[Process]:
    """Join ``torchrun``'s process group when ``WORLD_SIZE`` > 1 (NCCL on GPUs, gloo on CPUs; GPU ``LOCAL_RANK``) and
    leave it afterwards; alone, just pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = device_for(requested_device, int(os.environ.get("LOCAL_RANK", "0")))
    if world > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    try:
        yield Process(device, dist.get_rank() if world > 1 else 0, world)
    finally:
        if world > 1:
            dist.destroy_process_group()
