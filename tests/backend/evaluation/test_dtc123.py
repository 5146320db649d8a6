"""DTC123's protocol on known cases: the truth as its own result is perfect; another member is measurably worse."""

import pytest
import torch

from backend.evaluation.dtc123 import ShapeOptions, Views, score_reconstruction
from backend.evaluation.images import PSNR_CAP, load_lpips
from backend.evaluation.objects import load_mesh, parse_object, truth_glb
from backend.evaluation.similarity import standin

pytestmark = pytest.mark.usefixtures("one_thread")

VIEWS = Views(elevation_deg=15.0, resolution=64, novel=4)
SHAPE = ShapeOptions(samples=3000, resolution=32)


@pytest.fixture(scope="module")
def snowmen():
    return [load_mesh(truth_glb(parse_object(f"snowman@{seed}")), "snowman") for seed in (0, 1)]


@pytest.fixture(scope="module")
def lpips():
    return load_lpips()


def test_the_truth_scored_against_itself_is_perfect(snowmen, lpips):
    truth = snowmen[0]
    scores = score_reconstruction(truth, truth, standin(), lpips, VIEWS, SHAPE)
    assert scores.psnr == PSNR_CAP and scores.lpips == pytest.approx(0.0, abs=1e-6)
    assert scores.clip_reference == pytest.approx(1.0, abs=1e-5) and scores.clip_novel == pytest.approx(scores.clip_novel_truth)
    assert scores.shape.chamfer == pytest.approx(0.0, abs=1e-9) and scores.shape.iou == 1.0 and scores.shape.fscore == 1.0
    assert set(scores.to_json()) >= {"psnr", "lpips", "clip_reference", "clip_novel", "chamfer", "iou", "fscore"}


def test_another_member_scores_worse_and_the_numbers_ignore_the_objects_placement(snowmen, lpips):
    truth, other = snowmen
    scores = score_reconstruction(other, truth, standin(), lpips, VIEWS, SHAPE)
    assert scores.psnr < 30 and scores.lpips > 0 and scores.clip_reference < 1.0
    assert 0 < scores.shape.iou < 0.95 and scores.shape.chamfer > 0.005 and scores.shape.fscore < 1.0
    moved = [type(m)(m.positions * 3 + torch.tensor([1.0, 2.0, 3.0]), m.faces, m.colors, m.uvs, m.texture, m.name) for m in (other, truth)]
    again = score_reconstruction(moved[0], moved[1], standin(), lpips, VIEWS, SHAPE)
    assert again.psnr == pytest.approx(scores.psnr, abs=0.5) and again.shape.iou == pytest.approx(scores.shape.iou, abs=0.02)
    assert again.shape.chamfer == pytest.approx(scores.shape.chamfer, rel=0.05)
