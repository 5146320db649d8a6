import pytest
import torch

from backend.methods.cad.losses import discriminator_loss, generator_loss, r1_penalty


def test_r1_of_a_linear_discriminator_is_half_gamma_times_its_squared_weight_norm_times_the_interval():
    weight = torch.randn(1, 3, 4, 4)
    penalty = r1_penalty(lambda x: (x * weight).sum(dim=(1, 2, 3)), torch.rand(5, 3, 4, 4), gamma=3.0, interval=16)
    assert float(penalty) == pytest.approx(3.0 / 2 * float(weight.square().sum()) * 16, rel=1e-5)


def test_r1_is_zero_for_a_discriminator_that_ignores_its_input_and_reaches_its_parameters():
    bias = torch.nn.Parameter(torch.tensor(0.5))
    assert float(r1_penalty(lambda x: bias * torch.ones(x.shape[0]), torch.rand(2, 3, 4, 4), 3.0, 16).detach()) == 0.0
    scale = torch.nn.Parameter(torch.tensor(2.0))
    r1_penalty(lambda x: (scale * x).sum(dim=(1, 2, 3)), torch.rand(2, 3, 4, 4), 1.0, 1).backward()
    assert scale.grad is not None and float(scale.grad) > 0, "R1 trains the discriminator through a double backward"


def test_the_non_saturating_losses_reward_each_side_for_its_goal():
    confident_real, confident_fake = torch.full((4,), 5.0), torch.full((4,), -5.0)
    assert float(discriminator_loss(confident_real, confident_fake)) < 0.02 < float(discriminator_loss(confident_fake, confident_real))
    assert float(generator_loss(confident_real)) < 0.01 < float(generator_loss(confident_fake))
