"""Eq. 2 (annealed interval), Eq. 3 (band mask), the λ ramp of Eq. 4 and stage 2's phases against their formulas."""

import math

import pytest

from backend.methods.dtc123.config import CurriculumConfig
from backend.methods.dtc123.schedule import band_mask, interval_radius, phase, texture_weight, timestep_interval, timestep_midpoint


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


def test_lambda_ramps_up_from_zero_as_the_midpoint_falls():
    config = CurriculumConfig(t_max=0.5, t_min=0.02, step_length=10)
    assert texture_weight(0, 300, config, 2.0) == 0.0, "λ = 0 while t_mid = t_max (the start of stage 2)"
    assert texture_weight(9, 300, config, 2.0) == 0.0
    for step in (10, 150, 299):
        middle = timestep_midpoint(step, 300, 10, 0.5, 0.02)
        assert texture_weight(step, 300, config, 2.0) == pytest.approx(2.0 * (0.5 - middle) / 0.48)
    assert texture_weight(300, 300, config, 2.0) == pytest.approx(2.0), "the full weight at t_mid = t_min"
    values = [texture_weight(k, 300, config, 1.0) for k in range(301)]
    assert all(a <= b for a, b in zip(values, values[1:])), "never decreases"


def test_phases_split_the_stage_into_equal_parts():
    assert [phase(k, 3000, 3) for k in (0, 999, 1000, 1999, 2000, 2999, 3000)] == [0, 0, 1, 1, 2, 2, 2]
    assert [phase(k, 5, 1) for k in range(6)] == [0] * 6
    with pytest.raises(ValueError):
        phase(0, 10, 0)
