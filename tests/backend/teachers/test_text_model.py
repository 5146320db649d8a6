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


def test_the_model_is_asked_once_for_all_views_together(writer, monkeypatch):
    """What the language model is fed: one generation whose input names the description and every view (the paper's
    single instruction that keeps the views consistent), not one query per view."""
    fed: list[str] = []
    generate = writer.model.generate

    def recording(**inputs):
        fed.append(writer.tokenizer.decode(inputs["input_ids"][0]))
        return generate(**inputs)

    monkeypatch.setattr(writer.model, "generate", recording)
    writer.view_prompts("a red mushroom")
    assert len(fed) == 1
    instruction = text_model.INSTRUCTION.format(prompt="a red mushroom")
    assert all(f"{view}:" in instruction for view in ("front", "side", "back", "top")) and "a red mushroom" in instruction
    words = fed[0].split()
    assert all(word in words for word in ("red", "mushroom", "front", "side", "back", "top")), fed[0]


def test_a_well_formed_answer_gives_every_view_its_sentence():
    answer = (
        "Here are the descriptions:\n"
        "front: A red cap with white spots over a stout stem.\n"
        "**Side view**: The domed red cap overhangs the pale stem.\n"
        "2. Rear - \"The back of the cap, red and spotted.\"\n"
        "top: A round red disc dotted with white.\n"
        "back: a second back line is ignored"
    )
    assert text_model.parse_answer(answer) == {
        "front": "A red cap with white spots over a stout stem.",
        "side": "The domed red cap overhangs the pale stem.",
        "back": "The back of the cap, red and spotted.",
        "overhead": "A round red disc dotted with white.",
    }
    prompts = text_model.per_view_prompts("a mushroom", answer)
    assert prompts["back"] == "a mushroom, The back of the cap, red and spotted."


def test_a_malformed_answer_keeps_the_templates_with_a_warning(caplog):
    with caplog.at_level("WARNING", logger=text_model.__name__):
        assert text_model.per_view_prompts("a cup", "a cup a cup a cup") == {view: text_model.template("a cup", view) for view in VIEWS}
    assert "front, side, back, overhead" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger=text_model.__name__):
        partial = text_model.per_view_prompts("a cup", "front: A white mug.\nback: Its handle.")
    assert partial == {"front": "a cup, A white mug.", "back": "a cup, Its handle.", "side": "a cup, side view", "overhead": "a cup, overhead view"}
    assert "side, overhead" in caplog.text


def test_sentences_are_cleaned():
    assert text_model.clean('  "The cap is red   and round."  ') == "The cap is red and round."
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
