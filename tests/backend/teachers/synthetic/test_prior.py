import pytest
import torch

from backend.teachers.synthetic.families import FAMILIES
from backend.teachers.synthetic.prior import BAD_LABELS, PriorConfig, SampleLabel, SyntheticPrior, corrupt
from backend.teachers.synthetic.render import SceneObject
from backend.teachers.synthetic.text import parse


def test_good_samples_render_the_family_at_the_reported_pose():
    prior = SyntheticPrior(FAMILIES["snowman"], PriorConfig(image_size=32))
    samples = prior.sample(6, torch.Generator().manual_seed(0))
    assert samples.images.shape == (6, 3, 32, 32) and samples.poses.shape == (6, 3)
    assert samples.labels == [SampleLabel.GOOD] * 6 and not samples.bad.any()
    assert set(samples.objects) == {"snowman"}
    assert float(samples.poses[:, 0].min()) >= -10 and float(samples.poses[:, 0].max()) <= 40
    assert (samples.images < 0.99).any(dim=1).flatten(1).float().mean(dim=1).min() > 0.05  # something in view


def test_injected_bad_samples_are_labelled_and_really_bad():
    """Every bad kind is injected at the requested rate and differs from the truth at the reported pose."""
    scene = parse("a red cone beside a blue cube")  # asymmetric: a wrong pose shows
    target = SceneObject(scene)
    prior = SyntheticPrior([target], PriorConfig(image_size=32, bad_fraction=0.5), distractor=FAMILIES["mushroom"])
    samples = prior.sample(24, torch.Generator().manual_seed(3))
    assert int(samples.bad.sum()) == 12
    assert {label for label in samples.labels if label is not SampleLabel.GOOD} == set(BAD_LABELS)
    truth = prior.render(target, samples.poses)
    error = (samples.images - truth).abs().flatten(1).mean(dim=1)
    good = ~samples.bad
    assert float(error[good].max()) < 1e-6
    assert float(error[samples.bad].min()) > 0.02
    assert all(name == "mushroom" for name, label in zip(samples.objects, samples.labels) if label is SampleLabel.WRONG_OBJECT)


def test_only_the_requested_kind_is_injected():
    prior = SyntheticPrior(FAMILIES["table"], PriorConfig(image_size=16, bad_fraction=1.0, bad_kinds=(SampleLabel.CORRUPTED,)))
    samples = prior.sample(4, torch.Generator().manual_seed(0))
    assert samples.labels == [SampleLabel.CORRUPTED] * 4


def test_corruption_keeps_range_and_changes_the_image():
    image = torch.rand(3, 16, 16)
    damaged = corrupt(image, torch.Generator().manual_seed(0))
    assert damaged.shape == image.shape and float(damaged.min()) >= 0 and float(damaged.max()) <= 1
    assert (damaged - image).abs().mean() > 0.1


@pytest.mark.parametrize(
    "kwargs, message",
    [({"bad_fraction": 1.5}, "bad_fraction"), ({"bad_fraction": 0.5, "bad_kinds": ()}, "bad kind"), ({"bad_kinds": (SampleLabel.GOOD,)}, "good"), ({"image_size": 2}, "image_size")],
)
def test_absurd_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PriorConfig(**kwargs)
    with pytest.raises(ValueError, match="at least one object"):
        SyntheticPrior([])


def test_prior_over_a_folder_of_glb_files(tmp_path):
    import numpy as np
    import trimesh

    from backend.teachers.synthetic.glb_io import load_folder

    for name, color in (("red_ball", [255, 0, 0, 255]), ("green_box", [0, 255, 0, 255])):
        mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.4) if name == "red_ball" else trimesh.creation.box(extents=(0.6, 0.6, 0.6))
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile(color, (len(mesh.vertices), 1)))
        mesh.export(tmp_path / f"{name}.glb")
    prior = SyntheticPrior(load_folder(tmp_path), PriorConfig(image_size=24, shaded=False))
    samples = prior.sample(8, torch.Generator().manual_seed(0))
    assert set(samples.objects) == {"red_ball", "green_box"}
    for image, name in zip(samples.images, samples.objects):
        centre = image[:, 12, 12]
        assert (centre.argmax().item(), name) in {(0, "red_ball"), (1, "green_box")}
