"""CAD's prior cache on the synthetic world: pose sampling, pruning quality, the files, resuming, GLB families."""

import json
import math
from dataclasses import replace

import pytest
import torch

from backend.methods.cad.prior_cache import (
    PriorSamplingConfig, load_cache, reference_view, sample_prior_cache, sphere_poses,
)
from backend.teachers.synthetic.families import family
from backend.teachers.synthetic.glb_io import SCENE_EXPORT, export_scene, load_folder
from backend.teachers.synthetic.prior import PriorConfig, SampleLabel, SyntheticPrior
from protocol.schema import SchemaError


pytestmark = pytest.mark.usefixtures("one_thread")


def snowman_prior(size: int) -> tuple[SyntheticPrior, torch.Tensor]:
    """The snowman prior at ``size`` px and a reference view of one member (elevation 15°)."""
    prior = SyntheticPrior(family("snowman"), PriorConfig(image_size=size))
    return prior, reference_view(prior, prior.draw_object(prior.source, torch.Generator().manual_seed(7)), 15.0)


def test_poses_are_uniform_on_the_sphere():
    poses = sphere_poses(20_000, (-90.0, 90.0), 2.0, torch.Generator().manual_seed(0))
    elevation, azimuth = poses[:, 0], poses[:, 1]
    assert poses.shape == (20_000, 3) and torch.all(poses[:, 2] == 2.0)
    assert elevation.abs().max() <= 90.0 and azimuth.min() >= -180.0 and azimuth.max() < 180.0
    band = (elevation.abs() > 30.0).float().mean()
    assert abs(float(band) - 0.5) < 0.02, "above |30°| lies half the sphere's area (1 − sin 30°)"
    assert abs(float(torch.sin(torch.deg2rad(elevation)).mean())) < 0.02 and abs(float(azimuth.mean())) < 4.0
    limited = sphere_poses(2000, (-10.0, 40.0), 2.0, torch.Generator().manual_seed(1))[:, 0]
    assert limited.min() >= -10.0 and limited.max() <= 40.0


def test_config_refuses_contradictions():
    with pytest.raises(SchemaError, match="elevation_range"):
        PriorSamplingConfig(elevation_range=(30.0, 10.0))
    with pytest.raises(SchemaError, match="bad_kinds"):
        PriorSamplingConfig(bad_kinds=(SampleLabel.GOOD,))
    with pytest.raises(SchemaError, match="bad_kinds"):
        PriorSamplingConfig(bad_fraction=0.5, bad_kinds=())


@pytest.mark.parametrize("size", [32, 48])
def test_pruning_finds_the_injected_bad_samples(tmp_path, size):
    """Measured over seeds 0–9 (150 poses, half failing): precision ≥ 0.97, recall ≥ 0.80, wrong objects and
    corrupted samples always caught, kept samples ≥ 88 % good. Recall is capped by failing poses whose only bad samples
    are wrong poses: a snowman turned about its axis shows nearly the same silhouette and colours."""
    prior, reference = snowman_prior(size)
    config = PriorSamplingConfig(poses=150, samples_per_pose=4, chunk_poses=64, bad_fraction=0.5)
    report = sample_prior_cache(tmp_path, reference, prior, config, seed=3)
    assert report["complete"] and report["poses_tried"] == 150 and report["bad_poses"] > 50
    assert report["precision"] >= 0.93 and report["recall"] >= 0.75, report
    assert report["recall_by_kind"]["wrong_object"] >= 0.95 and report["recall_by_kind"]["corrupted"] >= 0.95, report
    assert report["kept_good_share"] >= 0.8, report


def test_without_bad_samples_nearly_every_pose_is_kept(tmp_path):
    prior, reference = snowman_prior(32)
    report = sample_prior_cache(tmp_path, reference, prior, PriorSamplingConfig(poses=60, chunk_poses=64), seed=1)
    assert report["bad_poses"] == 0 and report["precision"] is None and report["recall"] is None
    assert report["kept"] >= 57 and report["kept_good_share"] == 1.0, "measured: ≥ 99 % kept over 10 seeds"


def test_report_and_files(tmp_path):
    prior, reference = snowman_prior(32)
    config = PriorSamplingConfig(poses=40, samples_per_pose=3, chunk_poses=16, bad_fraction=0.5)
    report = sample_prior_cache(tmp_path, reference, prior, config, seed=2)
    chunks = [f"chunk-0000{c}.safetensors" for c in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.json", *chunks, "report.json"]
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert set(report) == {"poses_total", "poses_tried", "complete", "kept", "pruned", "bad_poses", "precision", "recall", "recall_by_kind", "kept_good_share"}
    assert report["poses_total"] == report["poses_tried"] == 40 and report["complete"]
    assert set(report["pruned"]) == {"outside_overlap", "low_similarity"}
    assert report["kept"] + sum(report["pruned"].values()) == 40
    assert set(report["recall_by_kind"]) == {"wrong_pose", "wrong_object", "corrupted"}
    manifest = json.loads((tmp_path / "cache.json").read_text())
    assert manifest["seed"] == 2 and manifest["source"] == "snowman" and manifest["config"]["samples_per_pose"] == 3
    images, poses = load_cache(tmp_path)
    assert images.shape == (report["kept"], 3, 32, 32) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and (images < 0.9).any()
    assert poses.shape == (report["kept"], 3) and torch.allclose(poses[:, 2], torch.full((report["kept"],), 2.0))


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_cache(tmp_path):
    prior, reference = snowman_prior(32)
    config = PriorSamplingConfig(poses=20, samples_per_pose=3, chunk_poses=6, bad_fraction=0.5)
    whole = sample_prior_cache(tmp_path / "whole", reference, prior, config, seed=5)

    calls = []

    def stop_at_15(done, total):
        calls.append((done, total))
        if done == 15:
            raise Interrupt

    with pytest.raises(Interrupt):
        sample_prior_cache(tmp_path / "parts", reference, prior, config, seed=5, progress=stop_at_15)
    assert calls[0] == (0, 20) and calls[-1] == (15, 20)
    parts = tmp_path / "parts"
    assert sorted(p.name for p in parts.glob("chunk-*")) == ["chunk-00000.safetensors", "chunk-00001.safetensors"]
    partial = json.loads((parts / "report.json").read_text())
    assert partial["poses_tried"] == 12 and not partial["complete"]
    assert load_cache(parts)[0].shape[0] == partial["kept"]

    calls.clear()
    resumed = sample_prior_cache(parts, reference, prior, config, seed=5, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (12, 20) and calls[-1] == (20, 20) and len(calls) == 9
    assert resumed == whole
    for path in sorted((tmp_path / "whole").glob("chunk-*")):
        assert (parts / path.name).read_bytes() == path.read_bytes(), path.name
    for a, b in zip(load_cache(parts), load_cache(tmp_path / "whole")):
        assert torch.equal(a, b)


def test_a_folder_of_another_run_is_refused(tmp_path):
    prior, reference = snowman_prior(32)
    config = PriorSamplingConfig(poses=4, samples_per_pose=2, chunk_poses=4)
    sample_prior_cache(tmp_path, reference, prior, config, seed=0)
    with pytest.raises(ValueError, match="other settings"):
        sample_prior_cache(tmp_path, reference, prior, config, seed=1)
    with pytest.raises(ValueError, match="other settings"):
        sample_prior_cache(tmp_path, reference, prior, replace(config, poses=8), seed=0)


def test_a_folder_of_glb_files_is_a_family(tmp_path):
    snowman = family("snowman")
    glbs = tmp_path / "glbs"
    glbs.mkdir()
    export = replace(SCENE_EXPORT, resolution=48, target_faces=3000)
    for index in range(2):
        (glbs / f"snowman-{index}.glb").write_bytes(export_scene(snowman.sample(torch.Generator().manual_seed(index)), export)[1])
    objects = load_folder(glbs)
    prior = SyntheticPrior(objects, PriorConfig(image_size=32), distractor=family("table"))
    reference = reference_view(prior, objects[0], 10.0)
    config = PriorSamplingConfig(poses=40, samples_per_pose=3, chunk_poses=20, bad_fraction=0.5)
    report = sample_prior_cache(tmp_path / "cache", reference, prior, config, seed=0)
    assert json.loads((tmp_path / "cache" / "cache.json").read_text())["source"] == ["snowman-0", "snowman-1"]
    assert report["complete"] and report["recall_by_kind"]["wrong_object"] == 1.0 and report["recall_by_kind"]["corrupted"] == 1.0, report
    assert report["precision"] >= 0.9 and report["kept_good_share"] >= 0.75, report  # seeds 0–3: 1.0 and 0.79–1.0
    images, poses = load_cache(tmp_path / "cache")
    assert images.shape == (report["kept"], 3, 32, 32) and math.isclose(float(poses[:, 2].mean()), 2.0, rel_tol=1e-6)
