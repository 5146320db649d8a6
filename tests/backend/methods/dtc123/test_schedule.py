"""Eq. 2 (annealed interval), Eq. 3 (band mask), the λ ramp of Eq. 4 and stage 2's phases against their formulas."""

import math

import pytest

from backend.methods.dtc123.config import CurriculumConfig
from backend.methods.dtc123.schedule import (
    band_mask, global_iteration, interval_radius, phase, stage_interval, stage_midpoint, texture_weight, timestep_interval, timestep_midpoint,
)  # fmt: skip


@pytest.mark.parametrize("base", [2.0, math.e])
def test_the_midpoint_follows_eq_2(base):
    # t_mid = t_max − (t_max − t_min)·log(1 + ⌊k/l⌋·l/N)
    assert timestep_midpoint(0, 3000, 100, 0.98, 0.02, base) == 0.98
    assert timestep_midpoint(99, 3000, 100, 0.98, 0.02, base) == 0.98, "constant within a block of l iterations"
    assert timestep_midpoint(100, 3000, 100, 0.98, 0.02, base) == pytest.approx(0.98 - 0.96 * math.log(1 + 100 / 3000, base))
    assert timestep_midpoint(1550, 3000, 100, 0.98, 0.02, base) == pytest.approx(0.98 - 0.96 * math.log(1 + 1500 / 3000, base))
    assert timestep_midpoint(3000, 3000, 100, 0.98, 0.02, base) == pytest.approx(0.98 - 0.96 * math.log(2, base))
    values = [timestep_midpoint(k, 3000, 100, 0.98, 0.02, base) for k in range(0, 3001, 50)]
    assert all(a >= b for a, b in zip(values, values[1:])), "monotonically decreasing"
    assert values[1] - values[3] > values[-3] - values[-1], "more iterations at small t: it falls fast first, then slowly"
    if base == 2.0:
        assert values[-1] == pytest.approx(0.02), "base 2 ends at t_min"


@pytest.mark.parametrize("step, total, length", [(-1, 10, 1), (11, 10, 1), (0, 0, 1), (0, 10, 0)])
def test_the_midpoint_refuses_impossible_steps(step, total, length):
    with pytest.raises(ValueError):
        timestep_midpoint(step, total, length, 0.98, 0.02)


def test_the_interval_narrows_around_the_midpoint_and_stays_in_range():
    config = CurriculumConfig(radius_start=0.2, radius_end=0.05, step_length=100)
    assert interval_radius(0, 1000, 0.2, 0.05) == 0.2 and interval_radius(1000, 1000, 0.2, 0.05) == pytest.approx(0.05)
    low, high = timestep_interval(0, 1000, config)
    assert (low, high) == (pytest.approx(0.78), 0.98), "clipped at t_max"
    low, high = timestep_interval(500, 1000, config)
    middle = timestep_midpoint(500, 1000, 100, 0.98, 0.02, config.log_base)
    assert (low, high) == (pytest.approx(middle - 0.125), pytest.approx(middle + 0.125))
    widths = [b - a for a, b in (timestep_interval(k, 1000, config) for k in range(300, 1001, 100))]  # no clipping from here on
    assert all(w1 > w2 for w1, w2 in zip(widths, widths[1:]))


def test_the_uniform_ablation_uses_the_whole_range():
    assert timestep_interval(700, 1000, CurriculumConfig(annealed=False)) == (0.02, 0.98)


def test_the_band_mask_follows_eq_3():
    # m_i = 1 iff i ≤ 4 + min(⌊10k/N⌋, L − 4), i 1-based
    assert band_mask(0, 1000, 16).tolist() == [1] * 4 + [0] * 12
    assert band_mask(99, 1000, 16).sum() == 4 and band_mask(100, 1000, 16).sum() == 5
    assert band_mask(550, 1000, 16).sum() == 4 + 5
    assert band_mask(1000, 1000, 16).sum() == 14, "⌊10k/N⌋ = 10 at the end: 14 of 16 levels (as Eq. 3 says)"
    assert band_mask(1000, 1000, 8).sum() == 8, "capped at L"


def test_one_curriculum_runs_over_both_stages():
    """Eq. 2 over N = stage 1's + stage 2's iterations: t_mid starts at t_max, never rises (no restart at stage 2), steps
    across the boundary no more than within a stage, and ends at t_min; the interval follows it."""
    config = CurriculumConfig(step_length=10)
    coarse, fine = 300, 120
    middles = [stage_midpoint(1, k, coarse, fine, config) for k in range(coarse)] + [stage_midpoint(2, k, coarse, fine, config) for k in range(fine + 1)]
    assert middles[0] == config.t_max and middles[-1] == pytest.approx(config.t_min)
    steps = [a - b for a, b in zip(middles, middles[1:])]
    assert min(steps) >= 0.0, "non-increasing"
    assert steps[coarse - 1] <= max(steps[: coarse - 1]) + 1e-12, "continuous at the stage boundary: no jump up, no larger step down"
    assert stage_midpoint(1, coarse - 1, coarse, fine, config) > 0.2, "stage 1 keeps the large time-steps, stage 2 gets the small ones"
    assert stage_midpoint(2, 0, coarse, fine, config) == timestep_midpoint(300, 420, 10, config.t_max, config.t_min, config.log_base)
    assert [global_iteration(1, 7, coarse), global_iteration(2, 7, coarse)] == [7, 307]
    assert stage_interval(2, 5, coarse, fine, config) == timestep_interval(305, 420, config)
    with pytest.raises(ValueError):
        global_iteration(3, 0, coarse)


def test_lambda_ramps_up_from_zero_through_stage_2_as_the_global_midpoint_falls():
    config = CurriculumConfig(t_max=0.98, t_min=0.02, step_length=10)
    coarse, fine = 300, 120
    start = stage_midpoint(2, 0, coarse, fine, config)
    assert texture_weight(0, coarse, fine, config, 2.0) == 0.0, "λ = 0 where stage 1 left t_mid (the start of stage 2)"
    for step in (10, 60, 119):
        middle = stage_midpoint(2, step, coarse, fine, config)
        assert texture_weight(step, coarse, fine, config, 2.0) == pytest.approx(2.0 * (start - middle) / (start - 0.02))
    assert texture_weight(fine, coarse, fine, config, 2.0) == pytest.approx(2.0), "the full weight at t_mid = t_min"
    values = [texture_weight(k, coarse, fine, config, 1.0) for k in range(fine + 1)]
    assert all(a <= b for a, b in zip(values, values[1:])), "never decreases"


def test_phases_split_the_stage_into_equal_parts():
    assert [phase(k, 3000, 3) for k in (0, 999, 1000, 1999, 2000, 2999, 3000)] == [0, 0, 1, 1, 2, 2, 2]
    assert [phase(k, 5, 1) for k in range(6)] == [0] * 6
    with pytest.raises(ValueError):
        phase(0, 10, 0)
