import pytest
import torch

from backend.teachers import registry, text_model
from backend.teachers.latent_diffusion import VIEWS, view_prompts
from tests.backend.teachers import tiny_models

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def writer(tmp_path_factory):
    return tiny_models.load_through_registry(text_model.load, {"text_model": tiny_models.causal_lm(tmp_path_factory.mktemp("lm") / "tiny")})


def test_a_text_model_writes_one_prompt_per_view_reproducibly(writer):
    prompts = writer.view_prompts("a red mushroom")
    assert set(prompts) == set(VIEWS) and all(p.startswith("a red mushroom, ") for p in prompts.values())
    assert writer.view_prompts("a red mushroom") == prompts, "greedy decoding: the same prompts every time"


def test_answers_are_cleaned_and_an_empty_one_keeps_the_template():
    assert text_model.clean('\n  "The cap is red   and round."\nMore text') == "The cap is red and round."
    assert text_model.clean("   \n ") == ""
    assert text_model.template("a cup", "back") == "a cup, back view"


def test_teachers_use_the_view_prompts_instead_of_the_suffixes():
    poses = torch.tensor([[0.0, 0.0, 2.0], [0.0, 180.0, 2.0], [70.0, 0.0, 2.0]])
    per_view = {view: f"{view} sentence" for view in VIEWS}
    assert view_prompts("a cup", poses, 3, per_view) == ["front sentence", "back sentence", "overhead sentence"]
    assert view_prompts("a cup", poses, 3) == ["a cup, front view", "a cup, back view", "a cup, overhead view"]


def test_a_missing_text_model_names_the_role(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "TEXT_MODEL", str(tmp_path / "none"))
    with pytest.raises(registry.MissingModelError, match="text_model"):
        text_model.load()
