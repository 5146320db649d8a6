"""DTC123 end to end on the synthetic world (tiny preset, CPU): resume after an interruption, and a measured outcome."""

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from backend.core.mesh_ops import winding_number
from backend.core.metrics import chamfer_distance, surface_samples, volume_iou
from backend.methods import get
from backend.methods.base import JobContext, JobInputs, MethodError
from backend.methods.configs import resolve
from backend.methods.dtc123.pipeline import DTC123Method
from backend.methods.progress import JobCancelled, ProgressReporter
from backend.teachers.synthetic.families import family
from backend.teachers.synthetic.glb_io import export_scene
from protocol.messages import Camera

CAMERA = Camera(elevation_deg=20.0, azimuth_deg=30.0, distance=2.5, fov_deg=40.0)


def _target(tmp_path: Path, name: str = "snowman"):
    """``(GLB path, its mesh as trimesh loads it, the exact scene)`` of a synthetic family member."""
    scene = family(name).sample(torch.Generator().manual_seed(3))
    _, glb = export_scene(scene)
    path = tmp_path / f"{name.replace(':', '-')}.glb"
    path.write_bytes(glb)
    return path, trimesh.load(io.BytesIO(glb), file_type="glb", force="mesh"), scene


def _score(result, truth: trimesh.Trimesh, scene) -> tuple[float, float]:
    """(Chamfer distance / the truth's bounding-box diagonal, volume IoU on a 24³ grid) of a result in the object's frame."""
    positions, faces = result.arrays["positions"], result.arrays["faces"]
    diagonal = float(np.linalg.norm(truth.bounds[1] - truth.bounds[0]))
    chamfer = chamfer_distance(surface_samples(positions, faces, 20_000), surface_samples(truth.vertices, truth.faces, 20_000)) / diagonal
    lo = np.minimum(truth.bounds[0], positions.min(0)) - 0.05
    hi = np.maximum(truth.bounds[1], positions.max(0)) + 0.05
    iou = volume_iou(lambda p: scene.occupancy(torch.from_numpy(p).float()).numpy(), lambda p: winding_number(p, positions, faces) > 0.5, lo, hi, 24)
    return chamfer, iou


def _run(tmp_path: Path, overrides: dict, cancel_after: int | None = None, preset: str = "tiny"):
    events: list = []
    calls = {"n": 0}

    def cancelled() -> bool:
        calls["n"] += 1
        return cancel_after is not None and calls["n"] > cancel_after

    reporter = ProgressReporter(lambda kind, data, payload: events.append((kind, data)), cancelled, min_interval_s=0.0)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    context = JobContext(job_id="job", device="cpu", work_dir=work, reporter=reporter, generator_dir=tmp_path / "generator")
    _, config = resolve(get("dtc123"), preset, overrides)
    result = DTC123Method().run(JobInputs("", "", 5, CAMERA, None), config, context)
    return result, events


def test_a_missing_target_or_image_is_a_readable_error(tmp_path):
    with pytest.raises(MethodError, match="target: cannot read .* No such file"):
        _run(tmp_path, {"teacher": "synthetic", "target": str(tmp_path / "nope.glb")})
    (tmp_path / "broken.glb").write_bytes(b"not a glb")
    with pytest.raises(MethodError, match="target: .* is not a GLB file"):
        _run(tmp_path, {"teacher": "synthetic", "target": str(tmp_path / "broken.glb")})
    text = json.dumps({"asset": {"version": "2.0"}, "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}]}).encode()
    text += b" " * (-len(text) % 4)  # a mesh with no accessor: the header and JSON pass the submit's check, the load fails
    (tmp_path / "hollow.glb").write_bytes(struct.pack("<4sIII4s", b"glTF", 2, 20 + len(text), len(text), b"JSON") + text)
    with pytest.raises(MethodError, match="cannot read the target"):
        _run(tmp_path, {"teacher": "synthetic", "target": str(tmp_path / "hollow.glb")})


SMALL_STAGE_2 = {"fine.iterations": 8, "fine.grid_resolutions": (8, 12), "fine.raster_resolutions": (16, 24), "fine.checkpoint_every": 4}
"""A stage 2 of two phases, 4 iterations each, checkpointed at the phase change."""


@pytest.mark.slow
def test_an_interrupted_job_resumes_from_its_checkpoint(tmp_path):
    target, _, _ = _target(tmp_path)
    overrides = {"teacher": "synthetic", "target": str(target), "coarse.iterations": 12, "coarse.checkpoint_every": 4,
                 "coarse.resolution": 16, "coarse.samples": 8, "export_resolution": 32, **SMALL_STAGE_2}
    with pytest.raises(JobCancelled):
        _run(tmp_path, overrides, cancel_after=8)  # prepare ×2 then iterations 0…5: stops after the checkpoint at 4
    assert (tmp_path / "work" / "coarse.safetensors").exists()
    result, events = _run(tmp_path, overrides)
    assert result.metadata["coarse_resumed_at"] == 4
    steps = [d["step"] for kind, d in events if kind == "progress" and d["stage"] == "coarse"]
    assert steps[0] == 4 and steps[-1] == 12, "iterations before the checkpoint are not run again"
    assert result.files["mesh.glb"].data[:4] == b"glTF" and len(result.arrays["faces"]) > 0


@pytest.mark.slow
def test_a_job_interrupted_in_stage_2_resumes_there_without_redoing_stage_1(tmp_path):
    target, _, _ = _target(tmp_path)
    overrides = {"teacher": "synthetic", "target": str(target), "coarse.iterations": 4, "coarse.resolution": 16, "coarse.samples": 8,
                 "export_resolution": 32, **SMALL_STAGE_2}
    with pytest.raises(JobCancelled):
        _run(tmp_path, overrides, cancel_after=12)  # prepare ×2, stage 1 ×5, stage 2 iterations 0…4: stops at 5, after the checkpoint at 4
    result, events = _run(tmp_path, overrides)
    assert result.metadata["coarse_resumed_at"] == 4 and result.metadata["fine_resumed_at"] == 4
    assert result.metadata["tet_grid"] == 12, "the second phase's grid"
    stages = [(d["stage"], d["step"]) for kind, d in events if kind == "progress"]
    assert ("coarse", 0) not in stages and ("fine", 3) not in stages and stages[-3:] == [("fine", 8), ("export", 0), ("export", 1)]
    assert any(kind == "preview" for kind, _ in events) and len(result.arrays["faces"]) > 0


CHAMFER_BOUND = 0.06
"""Chamfer / diagonal. At the tiny preset's 32² stage-1 renders one pixel spans ≈ 0.057 units of the normalised frame, ≈ 3 % of
these objects' diagonals, and stage 2's last tet grid (32³ over the object's cube) has cells of ≈ 1/20 of them; 0.06 is two
pixels. The initial density blob scores 0.071 on the snowman and 0.136 on the table. Measured 2026-12-06 with the stage-1
surface level calibrated on the reference silhouette (one thread, job seed 5 unless said): snowman 0.030 (seed 6: 0.028),
mushroom 0.008, table 0.014, random:3 0.009 — at the fixed level 10 before it: snowman 0.042–0.049 over 8 runs, mushroom
0.008, table 0.011–0.014, random:3 0.013. Runs are not bit-reproducible (multithreaded scatter-adds), hence the margin."""
IOU_BOUND = 0.25
"""Volume IoU (24³). A one-pixel error on the surface costs thin parts (the snowman's hat, the table's legs) much of their
volume. Measured 2026-12-06 (as above): snowman 0.486 (seed 6: 0.487), mushroom 0.905, table 0.66, random:3 0.845; at the
fixed level before: snowman 0.30–0.36 over 8 runs, mushroom 0.90, table 0.50–0.66, random:3 0.74–0.75. The snowman, white on
the white background every view is rendered on, is the hardest: its initial blob scores 0.295, so the Chamfer bound and the
extent check are what fail the blob there."""
EXTENT_TOLERANCE = 0.25
"""The result's bounding box matches the truth's per axis within this fraction of the truth's largest side. The initial
density blob, a sphere, misses the snowman's height by ~45 %. With a fixed stage-1 level (10) the tiny preset's snowman
missed it by 2 % to 25.5 % (seed 5 in CI: the bottom of its white body, which SDS leaves as a light fog, fell below the
level); with the level calibrated on the reference silhouette it misses it by 9 % (seed 5) and 3 % (seed 6)."""


@pytest.fixture
def reconstruct(tmp_path_factory):
    """Run the tiny preset on a family member: ``(result, events, chamfer, iou, truth, scene)``."""

    def run(name: str):
        folder = tmp_path_factory.mktemp(name.replace(":", "-"))
        target, truth, scene = _target(folder, name)
        result, events = _run(folder, {"teacher": "synthetic", "target": str(target)})
        return (result, events, *_score(result, truth, scene), truth, scene)

    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", ["snowman", "mushroom", "table", "random:3"])
def test_the_tiny_preset_reconstructs_the_target_in_its_own_frame(reconstruct, name):
    result, events, chamfer, iou, truth, scene = reconstruct(name)
    assert chamfer < CHAMFER_BOUND and iou > IOU_BOUND, (chamfer, iou)
    positions = result.arrays["positions"]
    extent, truth_extent = np.ptp(positions, axis=0), truth.bounds[1] - truth.bounds[0]
    assert np.all(np.abs(extent - truth_extent) < EXTENT_TOLERANCE * truth_extent.max()), (extent, truth_extent)
    assert [kind for kind, _ in events].count("preview") >= 3
    assert result.metadata["fine_iterations"] == 120 and result.metadata["tet_grid"] == 32, "both stages ran"
    assert {d["stage"] for kind, d in events if kind == "progress"} == {"prepare", "coarse", "fine", "export"}
    assert Image.open(io.BytesIO(result.files["turntable.png"].data)).size == (8 * 192, 192)



def test_an_input_images_depth_is_estimated_when_a_depth_model_is_there(tmp_path, monkeypatch):
    from backend.methods.dtc123.coarse import Reference
    from backend.methods.dtc123.pipeline import with_estimated_depth
    from backend.teachers import registry
    from tests.backend.teachers import tiny_models

    reference = Reference(rgb=torch.rand(3, 32, 32), mask=(torch.rand(32, 32) > 0.3).float(), elevation=0.0)
    logs: list[str] = []
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "DEPTH", str(tmp_path / "nothing"))
    _, config = resolve(get("dtc123"), "tiny", {})
    assert with_estimated_depth(reference, config, "cpu", logs.append).depth is None and "no depth model" in logs[-1]
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "DEPTH", str(tiny_models.dpt(tmp_path / "dpt")))
    estimated = with_estimated_depth(reference, config, "cpu", logs.append)
    assert estimated.depth.shape == (32, 32) and bool((estimated.depth[reference.mask == 0] == 0).all())
    _, off = resolve(get("dtc123"), "tiny", {"reference_depth": "off"})
    assert with_estimated_depth(reference, off, "cpu", logs.append).depth is None
    _, on = resolve(get("dtc123"), "tiny", {"reference_depth": "on"})
    assert "depth" in on.required_models() and "depth" not in config.required_models()


def test_view_prompts_come_from_the_text_model_when_there_is_one(tmp_path, monkeypatch):
    from backend.methods.dtc123.pipeline import llm_view_prompts
    from backend.teachers import registry
    from backend.teachers.latent_diffusion import VIEWS
    from tests.backend.teachers import tiny_models

    logs: list[str] = []
    _, config = resolve(get("dtc123"), "tiny", {})
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "TEXT_MODEL", str(tmp_path / "nothing"))
    assert llm_view_prompts("a red mushroom", config, "cpu", logs.append) is None, "auto without a model: the templates"
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "TEXT_MODEL", str(tiny_models.causal_lm(tmp_path / "lm")))
    prompts = llm_view_prompts("a red mushroom", config, "cpu", logs.append)
    assert set(prompts) == set(VIEWS) and "view prompts by the text model" in logs[-1]
    assert llm_view_prompts("  ", config, "cpu", logs.append) is None, "no prompt, nothing to augment"
    _, off = resolve(get("dtc123"), "tiny", {"view_prompts": "off"})
    assert llm_view_prompts("a red mushroom", off, "cpu", logs.append) is None
    _, on = resolve(get("dtc123"), "tiny", {"view_prompts": "on"})
    assert "text_model" in on.required_models() and "text_model" not in config.required_models()


def test_an_image_without_a_prompt_is_captioned_when_a_captioner_is_there(tmp_path, monkeypatch):
    from backend.methods.dtc123.pipeline import prompt_or_caption
    from backend.teachers import registry
    from tests.backend.teachers import tiny_models

    image = Image.new("RGBA", (40, 40), (200, 30, 30, 255))
    logs: list[str] = []
    _, config = resolve(get("dtc123"), "tiny", {})
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "CAPTIONER", str(tmp_path / "nothing"))
    assert prompt_or_caption(JobInputs("", "", 0, None, image), config, "cpu", logs.append) == ""
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "CAPTIONER", str(tiny_models.blip(tmp_path / "blip")))
    caption = prompt_or_caption(JobInputs("", "", 0, None, image), config, "cpu", logs.append)
    assert caption and "prompt by the captioner" in logs[-1]
    assert prompt_or_caption(JobInputs("a cup", "", 0, None, image), config, "cpu", logs.append) == "a cup", "the artist's prompt wins"
    _, on = resolve(get("dtc123"), "tiny", {"caption": "on"})
    assert "captioner" in on.required_models()


def test_the_memory_options_reach_the_registry_teachers(monkeypatch):
    """``--set memory.offload=true`` (the ``out_of_memory`` advice's option) is what Zero-1-to-3 and Stable Diffusion load with."""
    from backend.methods.dtc123.pipeline import load_registry_teacher
    from backend.methods.gpu_memory import GpuMemoryConfig
    from backend.teachers import stable_diffusion, zero123

    calls = []
    for module in (zero123, stable_diffusion):
        monkeypatch.setattr(module, "load", lambda module=module, **kwargs: calls.append((module.__name__.rsplit(".")[-1], kwargs)))
    load_registry_teacher("zero123", "cpu", GpuMemoryConfig(offload=True))
    load_registry_teacher("stable_diffusion", "cpu", GpuMemoryConfig(attention_slicing=True))
    assert calls == [("zero123", {"device": "cpu", "offload": True, "attention_slicing": False}),
                     ("stable_diffusion", {"device": "cpu", "offload": False, "attention_slicing": True})]  # fmt: skip
