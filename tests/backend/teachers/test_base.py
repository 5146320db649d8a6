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
    assert [int(t[0]) for t in teacher.calls] == [999, 799, 599, 400, 200]


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
