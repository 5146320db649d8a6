"""Adan against its formulas (paper Algorithm 1, proximal weight decay)."""

import math

import pytest
import torch

from backend.engine.adan import Adan


def reference(theta, grads, lr, betas, eps, decay):
    beta1, beta2, beta3 = betas
    m = v = n = 0.0
    previous = grads[0]
    for k, g in enumerate(grads, start=1):
        d = g - previous
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * d
        n = beta3 * n + (1 - beta3) * (g + beta2 * d) ** 2
        update = (m / (1 - beta1**k) + beta2 * v / (1 - beta2**k)) / (math.sqrt(n / (1 - beta3**k)) + eps)
        theta = (theta - lr * update) / (1 + lr * decay)
        previous = g
    return theta


def test_matches_the_formulas_step_by_step():
    grads = [0.5, -1.0, 2.0, 0.25, 0.0, -0.75]
    param = torch.nn.Parameter(torch.tensor([1.5], dtype=torch.float64))
    optimizer = Adan([param], lr=0.1, weight_decay=0.02)
    for g in grads:
        param.grad = torch.tensor([g], dtype=torch.float64)
        optimizer.step()
    assert float(param.detach()) == pytest.approx(reference(1.5, grads, 0.1, (0.98, 0.92, 0.99), 1e-8, 0.02), rel=1e-12)


def test_minimises_a_quadratic():
    target = torch.tensor([3.0, -2.0])
    x = torch.nn.Parameter(torch.zeros(2))
    optimizer = Adan([x], lr=0.05)
    for _ in range(400):
        optimizer.zero_grad()
        ((x - target) ** 2).sum().backward()
        optimizer.step()
    assert torch.allclose(x.detach(), target, atol=0.05)


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"betas": (0.9, 1.0, 0.9)}, {"weight_decay": -1.0}])
def test_refuses_bad_settings(kwargs):
    with pytest.raises(ValueError):
        Adan([torch.nn.Parameter(torch.zeros(1))], **kwargs)
