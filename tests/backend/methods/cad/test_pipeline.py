"""CAD end to end on a family the tests make up (a folder of GLB files): resemblance, diversity, continuity, inversion."""

import io
import json

import numpy as np
import pytest
import torch
import trimesh

from backend.generators import GeneratorError, load
from backend.methods import generator_catalog, get
from backend.methods.base import JobContext, JobInputs, MethodError
from backend.methods.cad.config import InvertConfig
from backend.methods.cad.invert import invert, render
from backend.methods.cad.pipeline import CADMethod, Distillation, export_generator, family_source
from backend.engine.checkpoint import saved_step
from backend.methods.cad.train import CHECKPOINT, PriorData, Trainer
from backend.methods.configs import resolve
from backend.methods.progress import JobCancelled, ProgressReporter
from backend.teachers.synthetic.families import family
from backend.teachers.synthetic.glb_io import export_scene

from backend.evaluation.family import iou, mean_pairwise_iou, nearest_member_iou, occupancy_grid

SAMPLES = 8
RESEMBLANCE_BOUND = 0.3
"""Mean IoU of a sample with its nearest family member after the tiny run (once measured 0.52 on these mushrooms; an
untrained generator scores 0.15 with the calibrated iso-level). Not met reliably: see the xfail below."""
DIVERSITY_BOUND = 0.9
"""Samples must not all be one shape: their mean pairwise IoU stays below this (measured 0.46; the members' own is 0.48).
Continuity is relative to it: a fifth of the way along an interpolation changes the mesh less (neighbours overlap more)
than drawing another sample does, and the ends overlap less than any neighbours (measured neighbours 0.56–0.67 on a
poorly trained run, ≥ 0.75 on a good one)."""


def make_family(folder, name="mushroom", count=4):
    """GLB members the tests made up, and trimesh's view of them."""
    folder.mkdir()
    members = []
    for index in range(count):
        _, glb = export_scene(family(name).sample(torch.Generator().manual_seed(100 + index)))
        (folder / f"member-{index}.glb").write_bytes(glb)
        members.append(trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh"))
    return members


def sample_grids(generator, lo, hi):
    grids = []
    for seed in range(SAMPLES):
        try:
            asset = generator.asset(generator.latent(seed, 0.7), "preview")
            grids.append(occupancy_grid(asset.positions, asset.faces, lo, hi))
        except GeneratorError:  # an empty surface resembles nothing
            grids.append(np.zeros(0, bool))
    return [g if g.size else np.zeros_like(grids[0] if grids[0].size else np.zeros(1, bool)) for g in grids]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    root = tmp_path_factory.mktemp("cad")
    members = make_family(root / "family")
    events = []
    reporter = ProgressReporter(lambda kind, data, payload: events.append((kind, data)), min_interval_s=0.0)
    work = root / "job" / "work"
    work.mkdir(parents=True)
    context = JobContext(job_id="job", device="cpu", work_dir=work, reporter=reporter, generator_dir=work / "generator")
    _, config = resolve(get("cad"), "tiny", {"prior": "synthetic", "family": str(root / "family")})
    torch.set_num_threads(2)
    result = CADMethod().run(JobInputs("", "", 0, None, None), config, context)
    return root, members, config, result, events


def family_grids(members):
    lo = np.min([m.bounds[0] for m in members], axis=0) - 0.1
    hi = np.max([m.bounds[1] for m in members], axis=0) + 0.1
    return lo, hi, [occupancy_grid(m.vertices, m.faces, lo, hi) for m in members]


@pytest.mark.slow
@pytest.mark.timeout(900)  # the module's distillation (about a minute alone on 2 cores) runs in the first test
def test_a_distilled_generator_differs_between_samples_and_interpolates_continuously(distilled):
    root, members, config, result, events = distilled
    lo, hi, _ = family_grids(members)
    generator = load(str(root / "job" / "work" / "generator"), generator_catalog())
    grids = sample_grids(generator, lo, hi)
    diversity = mean_pairwise_iou(grids)
    assert diversity < DIVERSITY_BOUND
    a, b = generator.latent(0, 0.7), generator.latent(1, 0.7)
    steps = [generator.asset(generator.mix(a, b, t), "preview") for t in np.linspace(0, 1, 6)]
    occupancy = [occupancy_grid(s.positions, s.faces, lo, hi) for s in steps]
    neighbours = [iou(occupancy[i], occupancy[i + 1]) for i in range(5)]
    assert min(neighbours) > diversity and iou(occupancy[0], occupancy[-1]) < min(neighbours), (neighbours, diversity)


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="known defect: CAD's GAN is seed-unstable on small GLB families. Mean nearest-member IoU of 8 "
                   "samples on these 4 mushrooms (untrained 0.15): tiny, job seeds 0–3 on 1 thread 0.12/0.12/0.18/0.60, seed 0 on 2 "
                   "threads 0.33; 600 stage-1 steps 0.39/0.09; 512 prior samples 0.32/0.15; lr 0.002 0.26/0.44; the fast preset "
                   "0.52/0.05; snowman GLBs (tiny) 0.13/0.17. The samples stay dark blobs (README, CAD, known problems).")
def test_a_distilled_generator_resembles_the_family(distilled):
    root, members, config, result, events = distilled
    lo, hi, truth = family_grids(members)
    generator = load(str(root / "job" / "work" / "generator"), generator_catalog())
    trained = nearest_member_iou(sample_grids(generator, lo, hi), truth)
    source, frame = family_source(str(root / "family"))
    untrained = Trainer(config, PriorData(torch.rand(2, 3, 32, 32), torch.tensor([[0.0, 0.0, 2.0]] * 2)), "cpu", 0)
    baseline = export_generator(Distillation(untrained, {}, frame, 2), config, root / "untrained", "cpu")
    initial = nearest_member_iou(sample_grids(baseline, lo, hi), truth)
    assert np.mean(trained) >= RESEMBLANCE_BOUND and np.mean(trained) >= np.mean(initial) + 0.2, (trained, initial)


@pytest.mark.slow
def test_the_job_reports_progress_and_returns_a_mesh_the_generator_and_the_pruning_report(distilled):
    root, _, config, result, events = distilled
    stages = {data["stage"] for kind, data in events if kind == "progress"}
    assert {"prior", "stage 1", "stage 2", "export"} <= stages
    assert any(kind == "preview" for kind, _ in events)
    assert len(result.arrays["faces"]) > 0 and "mesh.glb" in result.files
    description = json.loads(result.files["generator.json"].data)
    assert description["kind"] == "cad" and description["upsampled"] and description["frame"]["scale"] > 0
    assert result.files["generator.safetensors"].data == (root / "job" / "work" / "generator" / "generator.safetensors").read_bytes()
    report = result.metadata["prior"]
    assert report["poses_tried"] >= config.sampling.samples and report["complete"] and report["kept"] == result.metadata["kept_samples"] == config.sampling.samples


@pytest.mark.slow
def test_inversion_reproduces_the_reference_better_than_a_random_latent(distilled):
    root, members, config, _, _ = distilled
    generator = load(str(root / "job" / "work" / "generator"), generator_catalog())
    from backend.core.cameras import spherical_to_c2w

    c2w = spherical_to_c2w(torch.tensor([10.0]), torch.tensor([180.0]), torch.tensor([2.0]))
    with torch.no_grad():
        target = render(generator, generator.ws(generator.latent(42, 1.0).code), c2w)[0]
    result = invert(generator, target, c2w[0], InvertConfig(space="w+", steps=60, lpips_weight=0.0), ProgressReporter(lambda *a: None))
    random_error = float(((render(generator, generator.ws(generator.latent(7, 1.0).code), c2w)[0] - target) ** 2).mean().detach())
    inverted_error = float(((result.image - target) ** 2).mean())
    assert result.losses[-1] < result.losses[0] and inverted_error < 0.5 * random_error, (inverted_error, random_error)
    assert result.latent.shape == (generator.model.num_ws, generator.latent_dim)


def test_an_unknown_family_or_a_missing_prior_is_a_readable_error(tmp_path):
    with pytest.raises(MethodError, match="family 'teapots'"):
        family_source("teapots")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.glb").write_bytes(b"no")
    with pytest.raises(MethodError, match="cannot load the family folder"):
        family_source(str(tmp_path / "broken"))
    _, config = resolve(get("cad"), "tiny", {})
    context = JobContext("job", "cpu", tmp_path, ProgressReporter(lambda *a: None), tmp_path / "generator")
    with pytest.raises(MethodError, match="prior 'synthetic'"):
        CADMethod().run(JobInputs("", "", 0, None, None), config, context)


@pytest.mark.slow
def test_a_cancelled_job_stops_within_a_step_and_its_rerun_resumes_from_the_checkpoint(tmp_path):
    overrides = {"prior": "synthetic", "family": "snowman", "sampling.samples": 16, "train.stage1_steps": 6, "train.stage2_steps": 2,
                 "train.checkpoint_every": 2, "train.batch": 4}  # fmt: skip
    _, config = resolve(get("cad"), "tiny", overrides)
    work = tmp_path / "job" / "work"
    work.mkdir(parents=True)
    steps = []
    cancel_after = 3

    def emit(kind, data, payload):
        if kind == "progress" and data["stage"].startswith("stage"):
            steps.append((data["stage"], data["step"]))

    cancelled = ProgressReporter(emit, lambda: len(steps) >= cancel_after, min_interval_s=0.0)
    with pytest.raises(JobCancelled):
        CADMethod().run(JobInputs("", "", 0, None, None), config, JobContext("job", "cpu", work, cancelled, work / "generator"))
    assert steps == [("stage 1", 0), ("stage 1", 1), ("stage 1", 2)], "the cancel is honoured at the next step"
    assert saved_step(work / CHECKPOINT) == 2, "the last checkpoint (every 2 steps) stays"
    steps.clear()
    result = CADMethod().run(JobInputs("", "", 0, None, None), config, JobContext("job", "cpu", work, ProgressReporter(emit, min_interval_s=0.0), work / "generator"))
    assert steps[0] == ("stage 1", 2) and steps[-1] == ("stage 2", 2), "the rerun continues at step 2, not from scratch"
    assert result.metadata["prior"]["kept"] == 16 and result.metadata["prior"]["poses_tried"] >= 16
