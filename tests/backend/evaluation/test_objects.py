"""Object specs (a family member, random:<seed>, a GLB) and meshes as renderable objects; readable errors for bad files."""

import pytest
import torch

from backend.evaluation.objects import EvaluationError, load_mesh, mesh_object, parse_object, truth_glb


def test_specs_name_a_family_member_with_an_optional_seed_or_a_glb(tmp_path):
    plain, seeded = parse_object("snowman", 3), parse_object("snowman@3")
    assert (plain.family, plain.seed) == (seeded.family, seeded.seed) == ("snowman", 3) and seeded.text == "snowman@3"
    spec = parse_object("random:7@2", 0)
    assert (spec.family, spec.seed, spec.path) == ("random:7", 2, None), "the family name is passed to family() as it is"
    assert parse_object("random:7", 5).family == "random:7" and parse_object("random:7", 5).seed == 5
    assert parse_object(str(tmp_path / "thing.glb")).path == tmp_path / "thing.glb"
    with pytest.raises(EvaluationError, match="seed"):
        parse_object("snowman@first")
    with pytest.raises(EvaluationError, match="unknown family"):
        truth_glb(parse_object("teapot"))


def test_a_random_world_object_is_ground_truth_like_any_family_member():
    glb = truth_glb(parse_object("random:7@1"))
    assert glb[:4] == b"glTF" and len(load_mesh(glb, "random").faces) > 0
    assert truth_glb(parse_object("random:7@1")) == glb, "one spec, one object"


def test_a_missing_or_broken_glb_is_a_readable_error(tmp_path):
    with pytest.raises(EvaluationError, match="no such file"):
        load_mesh(tmp_path / "nope.glb")
    (tmp_path / "junk.glb").write_bytes(b"not a model")
    with pytest.raises(EvaluationError, match="not a GLB"):
        load_mesh(tmp_path / "junk.glb")
    (tmp_path / "bad.glb").write_bytes(b"glTF" + bytes(40))
    with pytest.raises(EvaluationError, match="bad.glb"):
        load_mesh(tmp_path / "bad.glb")


def test_a_family_members_glb_loads_and_renders_like_its_asset(one_thread):
    from backend.core.cameras import spherical_to_c2w
    from backend.core.glb import MeshAsset
    from backend.teachers.synthetic.families import family
    from backend.teachers.synthetic.glb_io import export_scene

    asset, glb = export_scene(family("mushroom").sample(torch.Generator().manual_seed(0)))
    assert glb == truth_glb(parse_object("mushroom@0"))
    loaded, converted = load_mesh(glb, "mushroom"), mesh_object(asset)
    c2w = spherical_to_c2w(torch.tensor([15.0]), torch.tensor([30.0]), torch.tensor([2.2]))
    a, b = loaded.render(c2w, 49.1, 48, 48), converted.render(c2w, 49.1, 48, 48)
    assert torch.equal(a.mask, b.mask) and (a.rgb - b.rgb).abs().mean() < 0.02
    assert isinstance(asset, MeshAsset)
