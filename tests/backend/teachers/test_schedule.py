import torch

from backend.teachers import schedule as S


def test_scaled_linear_matches_diffusers_ddim_scheduler():
    from diffusers import DDIMScheduler

    ours = S.NoiseSchedule.scaled_linear()
    theirs = S.NoiseSchedule.from_scheduler(DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012))
    assert ours.steps == 1000
    assert torch.allclose(ours.alphas_cumprod, theirs.alphas_cumprod, atol=1e-6)


def test_noise_and_denoise_round_trip():
    schedule = S.NoiseSchedule.scaled_linear()
    x0, eps = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    alpha, sigma = schedule.coefficients(torch.tensor([10, 500, 990]), x0)
    assert alpha.shape == (3, 1, 1, 1)
    assert torch.allclose(alpha**2 + sigma**2, torch.ones_like(alpha), atol=1e-6)
    x_t = S.add_noise(x0, eps, alpha, sigma)
    assert torch.allclose(S.x0_from_eps(x_t, eps, alpha, sigma), x0, atol=1e-4)
    assert torch.allclose(S.eps_from_x0(x_t, x0, alpha, sigma), eps, atol=1e-4)
    v = alpha * eps - sigma * x0
    assert torch.allclose(S.eps_from_v(x_t, v, alpha, sigma), eps, atol=1e-5)


def test_sds_gradient_equals_weighted_noise_residual():
    """DTC123 Eq. 1: ω(t)(ε̂ − ε) = ω̄(t)(x − x̂₀) for any ε̂."""
    schedule = S.NoiseSchedule.scaled_linear()
    x, eps, eps_hat = torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4), torch.randn(3, 2, 4, 4)
    alpha, sigma = schedule.coefficients(torch.tensor([50, 400, 900]), x)
    x_t = S.add_noise(x, eps, alpha, sigma)
    omega = S.sds_weight("sigma2", alpha, sigma)
    expected = omega * (eps_hat - eps)
    got = S.sds_gradient(x, S.x0_from_eps(x_t, eps_hat, alpha, sigma), omega, alpha, sigma)
    assert torch.allclose(got, expected, atol=1e-4)


def test_guidance_and_weights():
    u, c = torch.zeros(2), torch.ones(2)
    assert torch.equal(S.classifier_free_guidance(u, c, 7.5), torch.full((2,), 7.5))
    alpha, sigma = torch.tensor([0.6]), torch.tensor([0.8])
    assert torch.allclose(S.sds_weight("sigma2", alpha, sigma), torch.tensor([0.64]))
    assert torch.allclose(S.sds_weight("snr", alpha, sigma), torch.tensor([0.5625]))
    assert torch.equal(S.sds_weight("uniform", alpha, sigma), torch.ones(1))
