import pytest
import torch

from backend.teachers.synthetic.shapes import COLORS, Pattern, Primitive
from backend.teachers.synthetic.text import parse, random_prompt, vocabulary


def test_single_object():
    scene = parse("A red torus.")
    (part,) = scene.parts
    assert part.shape is Primitive.TORUS and part.color == COLORS["red"] and part.pattern is Pattern.SOLID
    assert scene.name == "A red torus."


def test_stacked_objects_put_the_first_on_top():
    scene = parse("a striped blue cube on a green sphere")
    bottom, top = scene.parts
    assert bottom.shape is Primitive.SPHERE and bottom.color == COLORS["green"]
    assert top.shape is Primitive.CUBE and top.pattern is Pattern.STRIPES and top.color == COLORS["blue"]
    assert top.center[1] - bottom.center[1] == pytest.approx(2 * 0.35)  # touching
    assert parse("a green sphere under a striped blue cube").parts == scene.parts
    assert parse("a striped blue cube on top of a green sphere").parts == scene.parts


def test_beside_and_sizes():
    left, right = parse("a small checkered yellow cone next to a big purple cylinder").parts
    assert left.center[0] < right.center[0]
    assert left.size[0] < right.size[0] and left.pattern is Pattern.CHECKS
    assert left.center[1] - left.size[1] == pytest.approx(right.center[1] - right.size[1])  # same ground


@pytest.mark.parametrize("prompt, word", [("a fluffy cube", "fluffy"), ("a red", "red"), ("", "nothing"), ("a cube on a", "nothing")])
def test_errors_name_the_offending_word(prompt, word):
    with pytest.raises(ValueError, match=word):
        parse(prompt)


def test_random_prompts_parse_and_cover_the_grammar():
    generator = torch.Generator().manual_seed(0)
    prompts = [random_prompt(generator) for _ in range(200)]
    scenes = [parse(p) for p in prompts]
    assert {len(s.parts) for s in scenes} == {1, 2}
    assert {p.shape for s in scenes for p in s.parts} == set(Primitive)
    assert len(set(prompts)) > 100
    assert "torus" in vocabulary()["shapes"] and "next to" in vocabulary()["relations"]
