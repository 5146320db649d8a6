"""CAD's protocol on the demo generators: the parametric family scores like the family, the shipped GAN is scored end to end."""

import pytest

from backend.evaluation.cad import OrbitViews, family_truth, generator_facts, score_generator
from backend.evaluation.objects import EvaluationError
from backend.evaluation.similarity import standin
from backend.generators import load
from backend.methods import generator_catalog

pytestmark = pytest.mark.usefixtures("one_thread")

VIEWS = OrbitViews(elevation_deg=10.0, frames=6, resolution=48)


def test_the_parametric_demo_generator_resembles_its_family_and_varies():
    generator = load("demo:mushroom", generator_catalog())
    facts = generator_facts(generator, None, "demo:mushroom")
    assert facts.family == "mushroom" and facts.radius == 2.0
    assert generator_facts(load("demo:random:7", generator_catalog()), None, "demo:random:7").family == "random:7", "as family() takes it"
    truth = family_truth("mushroom", members=3)
    scores = score_generator(generator, [0, 1, 2], truth, standin(), VIEWS, quality="preview", iou_resolution=32)
    assert [s.seed for s in scores.samples] == [0, 1, 2] and all(s.faces > 0 for s in scores.samples)
    assert all(s.iou > 0.4 and s.chamfer < 0.05 and 0.5 < s.clip_image <= 1.0 for s in scores.samples), scores.samples
    assert all(s.clip_text is None for s in scores.samples), "no prompt, no text score"
    assert 0 < scores.diversity < 1 and 0 < scores.members_diversity < 1
    assert len(truth.held_out) == 4 and 0.4 < scores.true_member_iou < 1 and 0 < scores.true_member_chamfer < 0.05, "held-out members are near, not equal"
    assert scores.reference_clip_image > 0.9, "the reference object orbited against its own reference view"


def test_the_shipped_generator_knows_its_family_and_reference_elevation():
    from backend.methods.cad.demo import DEMO_GENERATOR

    generator = load(str(DEMO_GENERATOR), generator_catalog())
    facts = generator_facts(generator, DEMO_GENERATOR)
    assert facts.family == "snowman" and facts.elevation_deg == generator.reference_elevation
    scores = score_generator(generator, [0], family_truth("snowman", members=2), standin(), VIEWS, quality="preview", iou_resolution=24,
                             frame=facts.frame)  # fmt: skip
    assert scores.samples[0].faces > 0 and 0 <= scores.samples[0].iou <= 1 and scores.diversity is None


def test_the_true_member_score_is_what_a_perfect_sampler_gets_on_a_varied_random_family():
    """random:2's members differ so much that the nearest of 8 is far even from a true member: the table's baseline row."""
    truth = family_truth("random:2", members=8, held_out=6)
    generator = load("demo:random:2", generator_catalog())
    scores = score_generator(generator, [0, 1, 2, 3, 4, 5], truth, standin(), OrbitViews(frames=2, resolution=32), quality="preview", iou_resolution=32)
    sampled = sum(s.iou for s in scores.samples) / len(scores.samples)
    assert scores.true_member_iou < 0.75 and abs(sampled - scores.true_member_iou) < 0.15, (sampled, scores.true_member_iou)


def test_a_family_folder_is_its_own_ground_truth_and_a_bad_family_is_refused(tmp_path):
    import torch

    from backend.teachers.synthetic.families import family
    from backend.teachers.synthetic.glb_io import export_scene

    (tmp_path / "fam").mkdir()
    for k in range(2):
        (tmp_path / "fam" / f"m{k}.glb").write_bytes(export_scene(family("table").sample(torch.Generator().manual_seed(k)))[1])
    truth = family_truth(str(tmp_path / "fam"))
    assert len(truth.members) == 2 and truth.held_out is None, "a folder's files are scored against each other"
    scores = score_generator(load("demo:table", generator_catalog()), [0], truth, standin(), VIEWS, quality="preview", iou_resolution=24)
    assert 0 < scores.true_member_iou < 1, "each file against the other"
    with pytest.raises(EvaluationError, match="unknown family"):
        family_truth("teapots")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="no .glb"):
        family_truth(str(tmp_path / "empty"))
