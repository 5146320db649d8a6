"""The generator tools keep every latent that has a surface and say which ones have none."""

import json

import pytest

from backend.generators import EmptySurface, GeneratorError, load
from backend.generators.tools import interpolate, sample, write


class SomeEmpty:
    """The parametric demo generator, except that the latents of ``empty_seeds`` have no surface."""

    def __init__(self, tmp_path, empty_seeds) -> None:
        self.inner = load("demo:mushroom", tmp_path)
        self.latent_dim = self.inner.latent_dim
        self.empty = {self.inner.latent(seed, 0.7).tobytes() for seed in empty_seeds}

    def latent(self, seed, truncation):
        return self.inner.latent(seed, truncation)

    def mix(self, a, b, t):
        return self.inner.mix(a, b, t)

    def asset(self, latent, quality):
        if latent.tobytes() in self.empty:
            raise EmptySurface("no density above the iso-level")
        return self.inner.asset(latent, quality)


def test_latents_without_a_surface_are_listed_and_the_others_written(tmp_path):
    generator = SomeEmpty(tmp_path, empty_seeds=[1, 3])
    made = sample(generator, 4, 0, 0.7, "preview")
    assert [m.asset is None for m in made] == [False, True, False, True]
    written = write(made, tmp_path / "out")
    assert sorted(p.name for p in written) == ["latents.json", "sheet.png", "variant-0.glb", "variant-2.glb"]
    listed = json.loads((tmp_path / "out" / "latents.json").read_text())
    assert [entry.get("empty") for entry in listed] == [None, "no density above the iso-level", None, "no density above the iso-level"]
    ends = interpolate(generator, 0, 1, 3, 0.7, "w", "preview")
    assert ends[0].asset is not None and ends[-1].asset is None and ends[-1].facts["t"] == 1.0


def test_when_no_latent_has_a_surface_nothing_is_written(tmp_path):
    made = sample(SomeEmpty(tmp_path, empty_seeds=[0, 1]), 2, 0, 0.7, "preview")
    with pytest.raises(GeneratorError, match="none of the 2 latents gives a surface"):
        write(made, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_other_refusals_still_stop_the_tool(tmp_path):
    with pytest.raises(GeneratorError, match="quality"):
        sample(load("demo", tmp_path), 1, 0, 0.7, "draft")
