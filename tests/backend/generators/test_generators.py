import json

import numpy as np
import pytest

from backend.generators import GENERATOR_FILE, JOB_GENERATOR_DIR, GeneratorError, load
from backend.generators.demo import DemoGenerator


def test_demo_latents_are_seeded_and_truncated():
    generator = DemoGenerator()
    a, again, other = generator.latent(3, 1.0), generator.latent(3, 1.0), generator.latent(4, 1.0)
    assert a.shape == (generator.latent_dim,) and a.dtype == np.float32
    assert np.array_equal(a, again) and not np.allclose(a, other)
    assert np.allclose(generator.latent(3, 0.5), 0.5 * a)
    assert np.allclose(generator.latent(3, 0.0), 0.0)


def test_demo_parameters_stay_in_range_and_mix_is_continuous():
    generator = DemoGenerator("mushroom")
    extreme = np.full(generator.latent_dim, 40.0, np.float32)
    for latent in (extreme, -extreme, generator.latent(0, 1.0)):
        for key, value in generator.parameters(latent).items():
            low, high = generator.family.ranges[key]
            assert low <= value <= high
    a, b = generator.latent(1, 1.0), generator.latent(2, 1.0)
    assert np.allclose(generator.mix(a, b, 0.0), a) and np.allclose(generator.mix(a, b, 1.0), b)
    near = generator.parameters(generator.mix(a, b, 0.5)), generator.parameters(generator.mix(a, b, 0.51))
    far = generator.parameters(a), generator.parameters(b)
    step = max(abs(near[0][k] - near[1][k]) for k in near[0])
    assert step < 0.1 * max(abs(far[0][k] - far[1][k]) for k in far[0])


def test_demo_assets_preview_and_full():
    generator = DemoGenerator()
    latent = generator.latent(0, 0.7)
    preview, full = generator.asset(latent, "preview"), generator.asset(latent, "full")
    assert preview.colors is not None and preview.uvs is None and len(preview.faces) > 500
    assert full.texture is not None and full.uvs is not None and 5_000 < len(full.faces) <= 20_000
    lo, hi = full.positions.min(axis=0), full.positions.max(axis=0)
    assert np.all(lo > -0.75) and np.all(hi < 0.75) and np.all(hi - lo > 0.3)
    with pytest.raises(GeneratorError, match="latent values"):
        generator.asset(np.zeros(3, np.float32), "preview")
    with pytest.raises(GeneratorError, match="quality"):
        generator.asset(latent, "draft")


def test_load_resolves_demo_folders_and_job_ids(tmp_path):
    assert load("demo:table", tmp_path).family.name == "table"
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / GENERATOR_FILE).write_text(json.dumps({"kind": "demo", "family": "ring_on_cube"}))
    assert load(str(folder), tmp_path).family.name == "ring_on_cube"
    job = tmp_path / "jobs" / "job-1"
    (job / JOB_GENERATOR_DIR).mkdir(parents=True)
    with pytest.raises(GeneratorError, match="job job-1 has no generator"):
        load("job-1", tmp_path / "jobs")
    (job / JOB_GENERATOR_DIR / GENERATOR_FILE).write_text(json.dumps({"kind": "demo"}))
    assert load("job-1", tmp_path / "jobs").family.name == "snowman"


@pytest.mark.parametrize(
    "spec, content, message",
    [
        ("demo:teapot", None, "unknown family 'teapot'"),
        ("nothing-here", None, "is not 'demo', a folder"),
        ("folder", "{not json", "cannot read"),
        ("folder", json.dumps({"kind": "stylegan9"}), "unknown generator kind 'stylegan9'"),
    ],
)
def test_load_errors_say_what_is_wrong(tmp_path, spec, content, message):
    if content is not None:
        (tmp_path / "folder").mkdir()
        (tmp_path / "folder" / GENERATOR_FILE).write_text(content)
        spec = str(tmp_path / spec)
    with pytest.raises(GeneratorError, match=message):
        load(spec, tmp_path)
