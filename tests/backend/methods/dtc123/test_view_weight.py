"""Footnote 2's SDS weight by distance from the reference view: the function, and the gradient a step applies in each stage."""

import math

import numpy as np
import pytest
import torch
import trimesh

from backend.methods import get
from backend.methods.configs import resolve
from backend.methods.dtc123 import coarse, fine
from backend.methods.dtc123.coarse import CoarseTask, Reference
from backend.methods.dtc123.field import CoarseField
from backend.methods.dtc123.fine import FineTask, Teachers
from backend.methods.dtc123.view_weight import angular_distance, view_weight
from backend.teachers.base import Condition
from backend.teachers.synthetic.families import family
from backend.teachers.synthetic.render import SceneObject
from backend.teachers.synthetic.teacher import SyntheticTeacher

pytestmark = pytest.mark.usefixtures("one_thread")

SIDE_POSE = (0.0, 90.0, 2.0)
"""A random view a quarter turn from the reference view (elevation 0, azimuth 0): θ = π/2."""


def test_the_angle_is_the_great_circle_distance_between_camera_directions():
    assert angular_distance((0.0, 0.0, 2.0), (0.0, 0.0, 3.0)) == 0.0
    assert angular_distance(SIDE_POSE, (0.0, 0.0, 2.0)) == pytest.approx(math.pi / 2)
    assert angular_distance((0.0, 180.0, 2.0), (0.0, 0.0, 2.0)) == pytest.approx(math.pi)
    assert angular_distance((0.0, -170.0, 2.0), (0.0, 170.0, 2.0)) == pytest.approx(math.radians(20))
    assert angular_distance((90.0, 37.0, 2.0), (0.0, 0.0, 2.0)) == pytest.approx(math.pi / 2), "overhead: a quarter turn whatever the azimuth"
    assert angular_distance((30.0, 0.0, 2.0), (10.0, 0.0, 2.0)) == pytest.approx(math.radians(20))


def test_the_weight_is_small_at_the_reference_view_and_grows_to_one_opposite_it():
    assert view_weight(0.0, 0.2, 1.0) == pytest.approx(0.2)
    assert view_weight(math.pi, 0.2, 1.0) == pytest.approx(1.0)
    assert view_weight(math.pi / 2, 0.2, 1.0) == pytest.approx(0.6)
    assert view_weight(math.pi / 2, 0.2, 2.0) == pytest.approx(0.4)
    angles = np.linspace(0.0, math.pi, 50)
    for power in (0.5, 1.0, 3.0):
        weights = [view_weight(a, 0.1, power) for a in angles]
        assert all(a < b for a, b in zip(weights, weights[1:])), "increasing with the distance"
    assert view_weight(2.0, 1.0, 1.0) == 1.0, "minimum 1: no weighting"


def _config(minimum: float):
    overrides = {
        "teacher": "synthetic", "cameras.reference_probability": 0.0, "coarse.resolution": 16, "coarse.samples": 8,
        "coarse.normal_smooth_weight": 0.0, "fine.iterations": 4, "fine.grid_resolutions": (12,), "fine.raster_resolutions": (24,),
        "fine.laplacian_weight": 0.0, "fine.ddim_fraction": 0.0, "view_weight.minimum": minimum, "view_weight.power": 1.0,
    }  # fmt: skip
    return resolve(get("dtc123"), "tiny", overrides)[1]


def _teacher():
    return SyntheticTeacher(SceneObject(family("mushroom").sample(torch.Generator().manual_seed(0))))


def _reference():
    return Reference(rgb=torch.ones(3, 24, 24), mask=torch.zeros(24, 24), elevation=0.0)


class _Log:
    def log(self, message: str, level: str = "info") -> None:
        pass


def _step_gradient(task, step: int, monkeypatch) -> torch.Tensor:
    """The gradient (flattened over the optimiser's parameters) of the loss ``task`` builds at ``step``, from SIDE_POSE."""
    captured = {}

    def descend(optimizer, loss):
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        grads = torch.autograd.grad(loss, parameters, allow_unused=True)
        captured["gradient"] = torch.cat([g.flatten() for g in grads if g is not None])
        return loss.item()

    module = coarse if isinstance(task, CoarseTask) else fine
    monkeypatch.setattr(module, "random_pose", lambda config, generator: SIDE_POSE)
    monkeypatch.setattr(module, "descend", descend)
    task.begin(step)
    task.step(step)
    return captured["gradient"]


def _coarse_task(config):
    torch.manual_seed(0)
    return CoarseTask(CoarseField(config.field), _teacher(), Condition(), _reference(), config, seed=0)


def _fine_task(config):
    torch.manual_seed(0)
    field = CoarseField(config.field)
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.3)
    surface = (np.asarray(sphere.vertices, np.float32), np.asarray(sphere.faces))
    teacher = _teacher()
    task = FineTask(field, surface, config.iso_density, Teachers(geometry=teacher, texture=teacher), Condition(), _reference(), config, seed=0, reporter=_Log())
    task.prepare(0)
    return task


@pytest.mark.parametrize("stage", ["coarse", "fine"])
def test_the_gradient_a_step_applies_scales_with_the_view_weight(stage, monkeypatch):
    make, step = (_coarse_task, 5) if stage == "coarse" else (_fine_task, 3)  # fine step 3: λ > 0, both teachers
    plain = _step_gradient(make(_config(1.0)), step, monkeypatch)
    weighted = _step_gradient(make(_config(0.2)), step, monkeypatch)
    assert plain.abs().sum() > 0
    assert torch.allclose(weighted, 0.6 * plain, rtol=1e-3, atol=1e-7), "w(π/2) = 0.2 + 0.8 · ½"
