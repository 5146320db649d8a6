import pytest
import torch

from backend.methods.cad.augment import adjust_probability, augment


def test_zero_probability_is_the_identity_and_one_changes_every_image():
    images = torch.rand(6, 6, 16, 16)
    assert torch.equal(augment(images, 0.0), images)
    changed = augment(images, 1.0, torch.Generator().manual_seed(0))
    assert changed.shape == images.shape
    assert ((changed - images).abs().flatten(1).amax(dim=1) > 1e-3).all()


def test_the_same_transform_applies_to_both_halves_of_a_dual_image():
    image = torch.rand(4, 3, 16, 16)
    out = augment(torch.cat([image, image], dim=1), 1.0, torch.Generator().manual_seed(1))
    assert torch.allclose(out[:, :3], out[:, 3:])


def test_gradients_flow_through_the_augmentations():
    images = torch.rand(3, 3, 8, 8, requires_grad=True)
    augment(images, 1.0, torch.Generator().manual_seed(2)).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_ada_raises_p_when_the_discriminator_overfits_and_lowers_it_otherwise():
    assert adjust_probability(0.2, 0.9, 0.6, images_seen=1000, speed_kimg=10) == pytest.approx(0.3)
    assert adjust_probability(0.2, 0.1, 0.6, images_seen=1000, speed_kimg=10) == pytest.approx(0.1)
    assert adjust_probability(0.0, 0.0, 0.6, 1000, 10) == 0.0 and adjust_probability(1.0, 1.0, 0.6, 1000, 10) == 1.0


def test_colour_factors_follow_adas_distributions():
    """On flat images the channel differences are scaled by contrast × saturation alone: log2 of the two lognormal factors
    (ADA: std 0.5 and 1) has std √(0.25 + 1) ≈ 1.12 (with the saturation std of contrast, 0.5, it was 0.71)."""
    images = torch.ones(4000, 3, 8, 8) * torch.tensor([0.6, 0.4, 0.5])[None, :, None, None]
    out = augment(images, 1.0, torch.Generator().manual_seed(3))
    spread = (out[:, 0] - out[:, 1]).abs().flatten(1).amax(dim=1)  # cut-out pixels are 0 in every channel: take the largest
    log_ratio = torch.log2(spread / 0.2)
    assert 1.05 < float(log_ratio.std()) < 1.2 and abs(float(log_ratio.mean())) < 0.08

