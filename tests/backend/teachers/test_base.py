"""The shared teacher machinery on a teacher whose answer is known exactly.

:class:`PointTeacher` models data that is a single point x*: the ideal denoiser
predicts x̂₀ = x* from any x_t, so DDIM, sampling and img2img must all land on x*,
and the SDS gradient is ω̄(t)(x − x*) whatever the noise.
"""

import pytest
import torch

from backend.teachers import schedule as S
from backend.teachers.base import Condition, Prediction, Teacher, sds_loss


class PointTeacher(Teacher):
    name = "point"

    def __init__(self, target: torch.Tensor) -> None:
        self.target = target
        self.schedule = S.NoiseSchedule.scaled_linear()
        self.calls: list[torch.Tensor] = []

    def predict(self, x_t, t, condition):
        self.calls.append(t.clone())
        alpha, sigma = self.schedule.coefficients(t, x_t)
        x0 = self.target.expand_as(x_t)
        return Prediction(eps=S.eps_from_x0(x_t, x0, alpha, sigma), x0=x0)


@pytest.fixture
def teacher():
    return PointTeacher(torch.linspace(-0.5, 0.5, 3 * 4 * 4).reshape(1, 3, 4, 4))


def test_sample_and_ddim_land_on_the_data_point(teacher):
    generator = torch.Generator().manual_seed(0)
    x0 = teacher.sample((2, 3, 4, 4), Condition(), steps=5, generator=generator)
    assert torch.allclose(x0, teacher.target.expand(2, -1, -1, -1), atol=1e-5)
    assert [int(t[0]) for t in teacher.calls] == [999, 799, 599, 399, 199]


def test_img2img_starts_at_strength_times_T(teacher):
    images = torch.rand(2, 3, 4, 4)
    refined = teacher.img2img(teacher.encode(images), 0.3, Condition(), steps=10, generator=torch.Generator().manual_seed(1))
    assert int(teacher.calls[0][0]) == round(0.3 * 999)
    assert len(teacher.calls) == 3
    assert torch.allclose(refined, teacher.target.expand(2, -1, -1, -1), atol=1e-5)
    with pytest.raises(ValueError, match="strength"):
        teacher.img2img(images, 0.0, Condition())


def test_sds_gradient_and_loss(teacher):
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    t = torch.tensor([100, 800])
    result = teacher.sds(x, Condition(), t, generator=torch.Generator().manual_seed(0))
    alpha, sigma = teacher.schedule.coefficients(t, x)
    expected = sigma**2 * alpha / sigma * (x.detach() - teacher.target)
    assert torch.allclose(result.gradient, expected, atol=1e-5)
    sds_loss(x, result.gradient).backward()
    assert torch.allclose(x.grad, expected / 2, atol=1e-6)


def test_multi_step_x0_uses_a_ddim_rollout(teacher):
    x = torch.randn(1, 3, 4, 4)
    teacher.sds(x, Condition(), torch.tensor([600]), x0_steps=3)
    assert [int(t[0]) for t in teacher.calls] == [600, 400, 200]


def test_sample_timesteps_in_range(teacher):
    t = teacher.sample_timesteps(1000, 0.02, 0.5, torch.Generator().manual_seed(0))
    assert int(t.min()) >= 20 and int(t.max()) <= 500 and t.dtype == torch.long
    with pytest.raises(ValueError):
        teacher.sample_timesteps(4, 0.6, 0.5)


class GaussianTeacher(Teacher):
    """Data x₀ ~ N(μ, s²I): the exact denoiser is E[x₀ | x_t] = μ + α s² / (α² s² + σ²) · (x_t − α μ)."""

    name = "gaussian"

    def __init__(self, mean: float, std: float) -> None:
        self.mean, self.std = mean, std
        self.schedule = S.NoiseSchedule.scaled_linear()

    def posterior_mean(self, x_t, t):
        alpha, sigma = self.schedule.coefficients(t, x_t)
        return self.mean + alpha * self.std**2 / (alpha**2 * self.std**2 + sigma**2) * (x_t - alpha * self.mean)

    def predict(self, x_t, t, condition):
        alpha, sigma = self.schedule.coefficients(t, x_t)
        x0 = self.posterior_mean(x_t, t)
        return Prediction(eps=S.eps_from_x0(x_t, x0, alpha, sigma), x0=x0)


def test_a_two_step_ddim_rollout_matches_the_hand_computed_one():
    teacher = GaussianTeacher(mean=0.3, std=0.5)
    x_t = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    start, middle = torch.tensor([600, 600]), torch.tensor([300, 300])
    alpha, sigma = teacher.schedule.coefficients(start, x_t)
    first = teacher.posterior_mean(x_t, start)
    alpha_mid, sigma_mid = teacher.schedule.coefficients(middle, x_t)
    x_mid = alpha_mid * first + sigma_mid * (x_t - alpha * first) / sigma
    expected = teacher.posterior_mean(x_mid, middle)
    assert torch.allclose(teacher.ddim_x0(x_t, start, Condition(), steps=2), expected, atol=1e-5)
    assert not torch.allclose(expected, first, atol=1e-3)  # the second step changed the answer


def test_multi_step_sds_uses_the_rollout_x0():
    teacher = GaussianTeacher(mean=0.0, std=1.0)
    x, noise, t = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 4), torch.tensor([700])
    result = teacher.sds(x, Condition(), t, noise=noise, x0_steps=3)
    alpha, sigma = teacher.schedule.coefficients(t, x)
    rollout = teacher.ddim_x0(alpha * x + sigma * noise, t, Condition(), steps=3)
    assert torch.allclose(result.x0, rollout) and torch.allclose(result.gradient, sigma * alpha * (x - rollout), atol=1e-6)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda teacher, x: teacher.sds(x, Condition(), torch.tensor([10]), x0_steps=0), "at least one step"),
        (lambda teacher, x: teacher.sample(tuple(x.shape), Condition(), steps=0), "at least one step"),
        (lambda teacher, x: teacher.sds(x, Condition(), torch.tensor([1000])), r"\[0, 1000\)"),
        (lambda teacher, x: teacher.sds(x, Condition(), torch.tensor([-1])), r"\[0, 1000\)"),
        (lambda teacher, x: teacher.sds(x, Condition(), torch.tensor([5, 6])), r"\(1,\) integer"),
        (lambda teacher, x: teacher.sds(x, Condition(), torch.tensor([0.5])), r"\(1,\) integer"),
    ],
)
def test_absurd_steps_and_time_steps_are_refused(call, words):
    teacher = GaussianTeacher(mean=0.0, std=1.0)
    with pytest.raises(ValueError, match=words):
        call(teacher, torch.zeros(1, 1, 2, 2))


def test_rollouts_never_visit_a_time_step_twice(teacher):
    teacher.sds(torch.zeros(1, 3, 4, 4), Condition(), torch.tensor([2]), x0_steps=50)
    assert [int(t[0]) for t in teacher.calls] == [2, 1, 0]
