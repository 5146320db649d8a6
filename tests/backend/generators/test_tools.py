"""The generator tools keep every latent that has a surface and say which ones have none."""

import json

import pytest

import numpy as np

from backend.generators import EmptySurface, GeneratorError
from backend.generators.demo import DemoGenerator
from backend.generators.tools import interpolate, sample, write


class SomeEmpty(DemoGenerator):
    """The parametric demo generator, except that the latents of ``empty_seeds`` have no surface."""

    def __init__(self, empty_seeds) -> None:
        super().__init__("mushroom")
        self.empty = {self.code(seed, 0.7).tobytes() for seed in empty_seeds}

    def asset(self, latent, quality):
        if latent.code.tobytes() in self.empty:
            raise EmptySurface("no density above the iso-level")
        return super().asset(latent, quality)


class PromptSized(DemoGenerator):
    """A conditioned stand-in: the condition of a prompt is its length (a (1,) embedding); it scales the latent code."""

    conditional = True

    def condition(self, prompt):
        return np.array([float(len(prompt))], np.float32)

    def asset(self, latent, quality):
        return super().asset(type(latent)(np.tanh(latent.code * latent.condition[0] / 10)), quality)


def test_latents_without_a_surface_are_listed_and_the_others_written(tmp_path):
    generator = SomeEmpty(empty_seeds=[1, 3])
    made = sample(generator, 4, 0, 0.7, "preview")
    assert [m.asset is None for m in made] == [False, True, False, True]
    written = write(made, tmp_path / "out")
    assert sorted(p.name for p in written) == ["latents.json", "sheet.png", "variant-0.glb", "variant-2.glb"]
    listed = json.loads((tmp_path / "out" / "latents.json").read_text())
    assert [entry.get("empty") for entry in listed] == [None, "no density above the iso-level", None, "no density above the iso-level"]
    ends = interpolate(generator, 0, 1, 3, 0.7, None, "preview")
    assert ends[0].asset is not None and ends[-1].asset is None and ends[-1].facts["t"] == 1.0


def test_when_no_latent_has_a_surface_nothing_is_written(tmp_path):
    made = sample(SomeEmpty(empty_seeds=[0, 1]), 2, 0, 0.7, "preview")
    with pytest.raises(GeneratorError, match="none of the 2 latents gives a surface"):
        write(made, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_other_refusals_still_stop_the_tool(tmp_path):
    with pytest.raises(GeneratorError, match="quality"):
        sample(DemoGenerator(), 1, 0, 0.7, "draft")


def test_a_conditioned_generator_gets_the_prompt_and_interpolates_between_prompts(tmp_path):
    generator = PromptSized()
    made = sample(generator, 2, 0, 0.7, "preview", prompt="a red torus")
    assert [m.latent.condition.tolist() for m in made] == [[11.0], [11.0]] and made[0].facts["prompt"] == "a red torus"
    steps = interpolate(generator, 0, 0, 3, 0.7, None, "preview", prompts=("ab", "abcdef"))
    assert [m.latent.condition.tolist() for m in steps] == [[2.0], [4.0], [6.0]], "the condition moves from one prompt's to the other's"
    written = write(made, tmp_path / "out")
    assert (tmp_path / "out" / "variant-0.condition.npy") in written
    assert np.load(tmp_path / "out" / "variant-0.condition.npy").tolist() == [11.0]
    with pytest.raises(GeneratorError, match="conditioned on a prompt"):
        generator.latent(0, 0.7)
