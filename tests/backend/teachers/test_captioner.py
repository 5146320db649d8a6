import pytest
from PIL import Image

from backend.teachers import captioner, registry
from tests.backend.teachers import tiny_models

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_captioner_describes_an_image_the_same_way_every_time(tmp_path):
    model = tiny_models.load_through_registry(captioner.load, {"captioner": tiny_models.blip(tmp_path / "blip")})
    image = Image.new("RGBA", (40, 30), (200, 30, 30, 255))
    caption = model(image)
    assert caption and caption == model(image) and "  " not in caption


def test_a_missing_captioner_names_the_role(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "CAPTIONER", str(tmp_path / "none"))
    with pytest.raises(registry.MissingModelError, match="captioner"):
        captioner.load()
