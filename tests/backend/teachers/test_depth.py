import pytest
import torch

from backend.teachers import depth, registry
from backend.teachers.controlnet_depth import normalise_inverse_depth
from tests.backend.teachers import tiny_models

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def estimator(tmp_path_factory):
    return tiny_models.load_through_registry(depth.load, {"depth": tiny_models.dpt(tmp_path_factory.mktemp("dpt") / "tiny")})


def test_estimates_one_inverse_depth_map_per_image_at_the_images_size(estimator):
    assert estimator.preprocess.size == (32, 32) and estimator.preprocess.mean == (0.5, 0.5, 0.5)
    images = torch.rand(3, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    maps = estimator(images)
    assert maps.shape == (3, 1, 48, 40) and torch.isfinite(maps).all()
    assert torch.allclose(estimator(images[:1]), maps[:1], rtol=1e-4, atol=1e-14), "images are estimated independently"
    assert not torch.allclose(maps[0], maps[1], rtol=1e-3, atol=0.0), "(a tiny random DPT's estimates are ~1e-11, but differ)"


def test_an_estimate_becomes_a_control_image_on_the_mask():
    inverse = torch.tensor([[[[4.0, 2.0], [1.0, 9.0]]]])
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    control = normalise_inverse_depth(inverse, mask)
    assert control.flatten().tolist() == pytest.approx([1.0, 0.4, 0.1, 0.0])


def test_a_missing_depth_model_names_the_role(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "DEPTH", str(tmp_path / "nothing"))
    with pytest.raises(registry.MissingModelError, match="depth"):
        depth.load()
