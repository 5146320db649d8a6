import json

import numpy as np
import pytest

from backend.generators import GENERATOR_FILE, Catalog, GeneratorError, Latent, load
from backend.generators.demo import DemoGenerator
from backend.generators.latents import slerp
from backend.job_layout import GENERATOR_DIR, generator_folder


def test_demo_latents_are_seeded_and_truncated():
    generator = DemoGenerator()
    a, again, other = (generator.latent(seed, 1.0).code for seed in (3, 3, 4))
    assert a.shape == (generator.latent_dim,) and a.dtype == np.float32
    assert np.array_equal(a, again) and not np.allclose(a, other)
    assert np.allclose(generator.latent(3, 0.5).code, 0.5 * a)
    assert np.allclose(generator.latent(3, 0.0).code, 0.0)
    assert generator.latent(3, 1.0, condition=np.ones(4, np.float32)).condition is None, "an unconditional generator drops conditions"


def test_demo_parameters_stay_in_range_and_mix_is_continuous():
    generator = DemoGenerator("mushroom")
    extreme = np.full(generator.latent_dim, 40.0, np.float32)
    for code in (extreme, -extreme, generator.latent(0, 1.0).code):
        for key, value in generator.parameters(code).items():
            low, high = generator.family.ranges[key]
            assert low <= value <= high
    a, b = generator.latent(1, 1.0), generator.latent(2, 1.0)
    assert np.allclose(generator.mix(a, b, 0.0).code, a.code) and np.allclose(generator.mix(a, b, 1.0).code, b.code)
    near = generator.parameters(generator.mix(a, b, 0.5).code), generator.parameters(generator.mix(a, b, 0.51).code)
    far = generator.parameters(a.code), generator.parameters(b.code)
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
        generator.asset(Latent(np.zeros(3, np.float32)), "preview")
    with pytest.raises(GeneratorError, match="quality"):
        generator.asset(latent, "draft")


def test_load_resolves_names_demo_folders_and_job_ids(tmp_path):
    jobs = tmp_path / "jobs"
    catalog = Catalog(named={"shipped": tmp_path / "gen"}, job_folder=lambda job_id: generator_folder(jobs, job_id))
    assert load("demo:table", catalog).family.name == "table"
    folder = tmp_path / "gen"
    folder.mkdir()
    (folder / GENERATOR_FILE).write_text(json.dumps({"kind": "demo", "family": "ring_on_cube"}))
    assert load(str(folder), catalog).family.name == "ring_on_cube"
    assert load("shipped", catalog).family.name == "ring_on_cube", "a name the catalog lists"
    job = jobs / "job-1"
    (job / GENERATOR_DIR).mkdir(parents=True)
    with pytest.raises(GeneratorError, match="job job-1 has no generator"):
        load("job-1", catalog)
    (job / GENERATOR_DIR / GENERATOR_FILE).write_text(json.dumps({"kind": "demo"}))
    assert load("job-1", catalog).family.name == "snowman"
    with pytest.raises(GeneratorError, match="is not 'shipped', 'demo:<family>', a folder"):
        load("job-2", catalog)
    folders = {spec: catalog.folder_of(spec) for spec in ("shipped", " shipped ", str(folder), "job-1", "demo:table", "job-2")}
    assert folders == {"shipped": folder, " shipped ": folder, str(folder): folder, "job-1": job / GENERATOR_DIR, "demo:table": None,
                       "job-2": None}, "the folder each spec names: the one load reads"  # fmt: skip


def test_a_kind_the_catalog_lists_is_loaded_by_its_loader(tmp_path):
    (tmp_path / GENERATOR_FILE).write_text(json.dumps({"kind": "mine", "family": "table"}))
    seen = []

    def loader(description, folder, device):
        seen.append((description["kind"], folder, device))
        return DemoGenerator(description["family"])

    assert load(str(tmp_path), Catalog(kinds={"mine": loader}), "cpu").family.name == "table"
    assert seen == [("mine", tmp_path, "cpu")]


def test_slerp_keeps_the_norm_of_gaussian_latents_and_hits_both_ends():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(512), rng.standard_normal(512)
    assert np.allclose(slerp(a, b, 0.0), a, atol=1e-5) and np.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    assert np.linalg.norm(slerp(a, b, 0.5)) == pytest.approx(np.linalg.norm(a), rel=0.05), "a lerp midpoint would be ~0.71 of it"
    assert np.linalg.norm((a + b) / 2) < 0.8 * np.linalg.norm(a)
    planes = rng.standard_normal((6, 4, 8, 8))
    assert slerp(planes, -planes + 1e-3, 0.3).shape == planes.shape, "any shape (PRD's six-plane noise)"


def test_mixing_moves_the_condition_with_the_code_and_refuses_mismatched_ones():
    generator = DemoGenerator()
    a = Latent(np.zeros(generator.latent_dim, np.float32), np.zeros((2, 3), np.float32))
    b = Latent(np.ones(generator.latent_dim, np.float32), np.ones((2, 3), np.float32))
    mixed = generator.mix(a, b, 0.25)
    assert np.allclose(mixed.code, 0.25) and np.allclose(mixed.condition, 0.25)
    with pytest.raises(GeneratorError, match="conditions of one shape"):
        generator.mix(a, Latent(b.code), 0.5)
    with pytest.raises(GeneratorError, match="interpolates in 'latent', not 'z'"):
        generator.between(0, 1, 0.5, 0.7, "z")


@pytest.mark.parametrize(
    "spec, content, message",
    [
        ("demo:teapot", None, "unknown family 'teapot'"),
        ("nothing-here", None, "is not 'demo:<family>', a folder"),
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
        load(spec, Catalog())
