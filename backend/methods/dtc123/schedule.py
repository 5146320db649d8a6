"""DTC123's schedules as pure functions of the iteration: Eq. 2's annealed interval, Eq. 3's band mask, the λ ramp of Eq. 4, stage 2's phases.

The time-step curriculum is one schedule over both stages (paper Sec. 4.2 and Fig. 3: the NeRF at large t, the DMTet
at small t): Eq. 2 runs over N = stage 1's + stage 2's iterations, stage 1 takes its first part and stage 2 continues
from the global iteration where stage 1 stopped (:func:`global_iteration`), so t_mid never jumps up and a resumed
stage finds the same t from its own step.
"""

from __future__ import annotations

import math

import torch

from .config import CurriculumConfig


def band_mask(step: int, total_steps: int, levels: int) -> torch.Tensor:
    """DTC123 Eq. 3: which levels (L,) are visible at ``step`` of ``total_steps``.

    Level i (1-based, coarsest first) is on when i ≤ 4 + min(⌊10·k / N⌋, L − 4):
    four levels at the start, one more every N/10 steps, all L from step
    (L − 4)·N/10 on.
    """
    visible = 4 + min(math.floor(10 * step / total_steps), levels - 4)
    return (torch.arange(1, levels + 1) <= visible).float()


def timestep_midpoint(step: int, total: int, step_length: int, t_max: float, t_min: float, log_base: float = 2.0) -> float:
    """Eq. 2: t_mid = t_max − (t_max − t_min) · log(1 + ⌊k / l⌋ · l / N), a fraction of T.

    Piecewise constant over blocks of ``step_length`` iterations, decreasing, fast at first and then
    slowly. With ``log_base`` 2 it spans the whole [t_min, t_max] over both stages (k = N gives t_min);
    with base e it stops at t_max − ln 2 · (t_max − t_min).
    """
    if total < 1 or step_length < 1 or not 0 <= step <= total:
        raise ValueError(f"need 0 ≤ step ≤ total, total ≥ 1, step_length ≥ 1; got step={step}, total={total}, step_length={step_length}")
    return t_max - (t_max - t_min) * math.log(1.0 + (step // step_length) * step_length / total, log_base)


def interval_radius(step: int, total: int, radius_start: float, radius_end: float) -> float:
    """Δ at ``step``: linear from ``radius_start`` to ``radius_end`` over the ``total`` iterations (the paper only says it narrows)."""
    return radius_start + (radius_end - radius_start) * min(step / total, 1.0)


def timestep_interval(step: int, total: int, config: CurriculumConfig) -> tuple[float, float]:
    """(low, high) fractions of T to draw t from at ``step`` of ``total``: [t_mid − Δ, t_mid + Δ] within [t_min, t_max].

    With ``config.annealed`` off, the whole range (the uniform-sampling ablation).
    """
    if not config.annealed:
        return config.t_min, config.t_max
    middle = timestep_midpoint(step, total, config.step_length, config.t_max, config.t_min, config.log_base)
    radius = interval_radius(step, total, config.radius_start, config.radius_end)
    return max(config.t_min, middle - radius), min(config.t_max, middle + radius)


def global_iteration(stage: int, step: int, coarse_iterations: int) -> int:
    """The curriculum's iteration k of ``step`` (0-based) in ``stage`` (1: NeRF, 2: DMTet, which continues where stage 1's
    ``coarse_iterations`` stopped)."""
    if stage not in (1, 2):
        raise ValueError(f"DTC123 has stages 1 and 2, not {stage}")
    return step if stage == 1 else coarse_iterations + step


def stage_midpoint(stage: int, step: int, coarse_iterations: int, fine_iterations: int, config: CurriculumConfig) -> float:
    """t_mid of Eq. 2 at ``step`` of ``stage`` on the one curriculum of N = ``coarse_iterations`` + ``fine_iterations``."""
    k = global_iteration(stage, step, coarse_iterations)
    return timestep_midpoint(k, coarse_iterations + fine_iterations, config.step_length, config.t_max, config.t_min, config.log_base)


def stage_interval(stage: int, step: int, coarse_iterations: int, fine_iterations: int, config: CurriculumConfig) -> tuple[float, float]:
    """(low, high) fractions of T to draw t from at ``step`` of ``stage``: :func:`timestep_interval` at the global iteration."""
    return timestep_interval(global_iteration(stage, step, coarse_iterations), coarse_iterations + fine_iterations, config)


def texture_weight(step: int, coarse_iterations: int, fine_iterations: int, config: CurriculumConfig, weight: float) -> float:
    """λ of Eq. 4 at ``step`` of stage 2 ("0 in the first stage and gradually increase with the reducing time-step in the
    second"): 0 while the global t_mid is where stage 1 left it, rising linearly with its fall to ``weight`` at t_min."""
    start = stage_midpoint(2, 0, coarse_iterations, fine_iterations, config)
    middle = stage_midpoint(2, step, coarse_iterations, fine_iterations, config)
    span = start - config.t_min
    return weight if span <= 0 else weight * (start - middle) / span


def phase(step: int, total: int, phases: int) -> int:
    """Index of the equal-length phase ``step`` falls in (0 … phases − 1)."""
    if phases < 1 or total < 1:
        raise ValueError(f"need phases ≥ 1 and total ≥ 1, got {phases}, {total}")
    return min(max(step, 0) * phases // total, phases - 1)
