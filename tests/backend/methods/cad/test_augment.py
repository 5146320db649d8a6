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
