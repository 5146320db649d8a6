"""The weight-free CLIP stand-in: it ranks the same object above another family and above corrupted images."""

import pytest
import torch

from backend.teachers.synthetic.families import family
from backend.teachers.synthetic.prior import PriorConfig, SyntheticPrior, corrupt
from backend.teachers.synthetic.similarity import image_similarity


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name, other", [("snowman", "table"), ("table", "snowman"), ("mushroom", "snowman")])
def test_the_similarity_stand_in_ranks_the_same_object_first(name, other):
    prior = SyntheticPrior(family(name), PriorConfig(image_size=32))
    generator = torch.Generator().manual_seed(0)
    target, distractor = prior.draw_object(family(name), generator), prior.draw_object(family(other), generator)
    reference = prior.render(target, torch.tensor([[15.0, 180.0, 2.0]]))
    poses = torch.tensor([[15.0, 140.0, 2.0], [30.0, -160.0, 2.0], [0.0, 90.0, 2.0]])
    same, different = prior.render(target, poses), prior.render(distractor, poses)
    corrupted = torch.stack([corrupt(reference[0], generator) for _ in range(3)])
    scores = image_similarity(torch.cat([same, different, corrupted]), reference)
    assert scores.shape == (9, 1)
    assert scores[:3].min() > scores[3:6].max() + 0.05, f"another family scores lower: {scores.flatten().tolist()}"
    assert scores[:3].min() > scores[6:].max() + 0.3, f"corrupted images score much lower: {scores.flatten().tolist()}"


def test_the_similarity_stand_in_is_a_deterministic_cosine():
    prior = SyntheticPrior(family("ring_on_cube"), PriorConfig(image_size=24))
    images = prior.render(prior.draw_object(prior.source, torch.Generator().manual_seed(1)), torch.tensor([[10.0, 0.0, 2.0], [40.0, 90.0, 2.0]]))
    matrix = image_similarity(images, images)
    assert matrix.shape == (2, 2) and torch.allclose(matrix.diagonal(), torch.ones(2))
    assert torch.allclose(matrix, matrix.T) and torch.equal(matrix, image_similarity(images, images))
    assert image_similarity(images, torch.nn.functional.interpolate(images, size=40)).shape == (2, 2), "sizes may differ"
