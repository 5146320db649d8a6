"""The text world's split holds out unseen combinations of known words; scores are exact for the scene itself."""

import re

import pytest

from backend.methods.prd.world import COLOURS, SHAPES, score, split
from backend.teachers.synthetic.text import parse


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_held_out_prompts_pair_known_words_no_training_prompt_pairs(seed):
    world = split(seed)
    assert set(world.train).isdisjoint(world.held_out) and world.held_out
    pairs = lambda prompt: set(re.findall(r"a (\w+) (\w+)", prompt))  # noqa: E731
    seen = set().union(*(pairs(p) for p in world.train))
    singles = [p for p in world.held_out if " on " not in p]
    assert len(singles) == len(SHAPES), "one colour held out per shape"
    for prompt in singles:
        (colour, shape), = pairs(prompt)
        assert (colour, shape) not in seen, prompt
        assert any(c == colour for c, _ in seen) and any(s == shape for _, s in seen), "both words are known"
    stacks = [p for p in world.held_out if " on " in p]
    assert stacks and all(tuple(s for _, s in re.findall(r"a (\w+) (\w+)", p)) not in
                          {tuple(s for _, s in re.findall(r"a (\w+) (\w+)", q)) for q in world.train if " on " in q} for p in stacks)
    assert {c for c, _ in seen} == set(COLOURS)


def test_the_scene_scores_perfectly_against_itself_and_a_wrong_colour_does_not():
    scene = parse("a red cube on a blue sphere")
    perfect = score(scene.sdf, scene.albedo, "a red cube on a blue sphere", resolution=32)
    assert perfect.iou == 1.0 and perfect.color_error < 1e-6
    recoloured = score(scene.sdf, lambda p: scene.albedo(p).flip(-1), "a red cube on a blue sphere", resolution=32)
    assert recoloured.iou == 1.0 and recoloured.color_error > 0.3
    other = score(parse("a torus").sdf, scene.albedo, "a red cube on a blue sphere", resolution=32)
    assert other.iou < 0.5
