import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.methods import generator_catalog, get
from backend.methods.base import JobContext, JobInputs, MethodError
from backend.methods.configs import resolve
from backend.methods.progress import ProgressReporter
from backend.methods.variants.pipeline import InterpolateMethod, VariantsMethod
from protocol.messages import ResultItem, ResultManifest
from protocol.schema import from_plain, to_plain


def _context(tmp_path: Path, events: list) -> JobContext:
    reporter = ProgressReporter(lambda kind, data, payload: events.append((kind, data)), min_interval_s=0.0)
    return JobContext(job_id="job", device="cpu", work_dir=tmp_path / "work", reporter=reporter, generator_dir=tmp_path / "generator",
                      generators=generator_catalog())


def _inputs(seed: int = 10, **arrays) -> JobInputs:
    return JobInputs(prompt="", negative_prompt="", seed=seed, camera=None, image=None, arrays=arrays)


def test_variants_returns_one_tagged_mesh_per_seed(tmp_path):
    events: list = []
    _, config = resolve(get("variants"), "preview", {"count": 3})
    result = VariantsMethod().run(_inputs(seed=10), config, _context(tmp_path, events))
    variants = result.metadata["variants"]
    assert [v["seed"] for v in variants] == [10, 11, 12]
    for index, variant in enumerate(variants):
        assert np.allclose(result.arrays[f"v{index}.latent"], variant["latent"])
        assert len(result.arrays[f"v{index}.faces"]) == variant["faces"] > 0
        assert f"v{index}.colors" in result.arrays and f"v{index}.texture.png" not in result.files
    assert not np.allclose(result.arrays["v0.positions"][:10], result.arrays["v1.positions"][:10])
    assert [d["step"] for kind, d in events if kind == "progress"][-1] == 3


def test_variants_full_quality_has_textures_and_glbs(tmp_path):
    _, config = resolve(get("variants"), None, {"seeds": [5]})
    result = VariantsMethod().run(_inputs(), config, _context(tmp_path, []))
    png = result.files["v0.texture.png"].data
    width, height = Image.open(io.BytesIO(png)).size
    assert width == height >= 128
    glb = result.files["v0.mesh.glb"].data
    assert glb[:4] == b"glTF" and png in glb, "the GLB embeds the very same encoded texture"
    assert "v0.texture" not in result.arrays, "the texture travels once, as an image"


def test_the_largest_variants_result_fits_one_manifest(tmp_path):
    _, config = resolve(get("variants"), "preview", {"count": 2})
    result = VariantsMethod().run(_inputs(), config, _context(tmp_path, []))
    per_variant = {name.split(".", 1)[1] for name in [*result.arrays, *result.files]} | {"texture.png", "mesh.glb"}
    count = get("variants").config_class.__dataclass_fields__["count"].metadata["le"]
    items = tuple(ResultItem(name=f"v{i}.{name}", kind="file", nbytes=0, nchunks=0) for i in range(count) for name in per_variant)
    from_plain(ResultManifest, to_plain(ResultManifest(items=items, chunk_bytes=1024)))  # a client accepts it


def test_interpolate_moves_between_the_latents(tmp_path):
    method = VariantsMethod()
    _, config = resolve(get("variants"), "preview", {"count": 2})
    variants = method.run(_inputs(), config, _context(tmp_path, [])).arrays
    a, b = variants["v0.latent"], variants["v1.latent"]
    meshes = {}
    for t in (0.0, 0.5, 1.0):
        _, config = resolve(get("interpolate"), None, {"t": t})
        meshes[t] = InterpolateMethod().run(_inputs(latent_a=a, latent_b=b), config, _context(tmp_path, []))
    assert np.allclose(meshes[0.0].arrays["positions"], variants["v0.positions"])
    assert np.allclose(meshes[1.0].arrays["positions"], variants["v1.positions"])
    assert np.allclose(meshes[0.5].arrays["latent"], (a + b) / 2)


@pytest.mark.parametrize(
    "arrays, params, message",
    [
        ({}, {}, "missing: latent_a, latent_b"),
        ({"latent_a": np.zeros(32, np.float32), "latent_b": np.zeros(3, np.float32)}, {}, "must both have 32 values"),
        ({"latent_a": np.zeros(4, np.float32), "latent_b": np.zeros(4, np.float32)}, {"generator": "no-such"}, "is not 'demo'"),
    ],
)
def test_interpolate_refuses_bad_inputs_with_a_reason(tmp_path, arrays, params, message):
    _, config = resolve(get("interpolate"), None, params)
    with pytest.raises(MethodError, match=message) as caught:
        InterpolateMethod().run(_inputs(**arrays), config, _context(tmp_path, []))
    assert caught.value.code.value == "invalid_params"


def test_a_seed_without_a_surface_costs_its_variant_not_the_batch(tmp_path):
    from tests.backend.generators.test_tools import SomeEmpty

    events: list = []
    _, config = resolve(get("variants"), "preview", {"count": 4})
    method = VariantsMethod()
    method.generators.get = lambda spec, context: SomeEmpty(empty_seeds=[11, 13])
    result = method.run(_inputs(seed=10), config, _context(tmp_path, events))
    assert [v["seed"] for v in result.metadata["variants"]] == [10, 12], "numbered v0, v1: the add-on imports them in a grid"
    assert "v1.positions" in result.arrays and "v2.positions" not in result.arrays
    assert [e["seed"] for e in result.metadata["empty"]] == [11, 13]
    assert any(kind == "log" and "seed 11 gives no mesh" in d["message"] for kind, d in events)
    method.generators.get = lambda spec, context: SomeEmpty(empty_seeds=[10, 11, 12, 13])
    with pytest.raises(MethodError, match="none of the 4 seeds gives a surface"):
        method.run(_inputs(seed=10), config, _context(tmp_path, events))


def test_a_conditioned_generator_samples_under_the_jobs_prompt_and_interpolates_its_conditions(tmp_path):
    from tests.backend.generators.test_tools import PromptSized

    _, config = resolve(get("variants"), "preview", {"count": 2})
    method = VariantsMethod()
    method.generators.get = lambda spec, context: PromptSized()
    inputs = JobInputs(prompt="a red torus", negative_prompt="", seed=3, camera=None, image=None)
    result = method.run(inputs, config, _context(tmp_path, []))
    assert result.arrays["v0.condition"].tolist() == [11.0] and result.arrays["v1.latent"].shape == (PromptSized().latent_dim,)
    interpolate = InterpolateMethod()
    interpolate.generators.get = lambda spec, context: PromptSized()
    _, config = resolve(get("interpolate"), None, {"t": 0.5})
    a, b = result.arrays["v0.latent"], result.arrays["v1.latent"]
    with pytest.raises(MethodError, match="'condition_a' and 'condition_b'"):
        interpolate.run(_inputs(latent_a=a, latent_b=b), config, _context(tmp_path, []))
    mixed = interpolate.run(_inputs(latent_a=a, latent_b=b, condition_a=np.array([2.0], np.float32), condition_b=np.array([6.0], np.float32)),
                            config, _context(tmp_path, []))  # fmt: skip
    assert mixed.arrays["condition"].tolist() == [4.0] and np.allclose(mixed.arrays["latent"], (a + b) / 2)
