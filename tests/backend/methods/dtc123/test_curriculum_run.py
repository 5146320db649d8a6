"""What time-steps the teachers' UNets receive in a short run of both stages: one curriculum, no restart at stage 2."""

import pytest
from PIL import Image, ImageDraw

from backend.methods import get
from backend.methods.base import JobContext, JobInputs
from backend.methods.configs import resolve
from backend.methods.dtc123 import coarse, fine
from backend.methods.dtc123.pipeline import DTC123Method
from backend.methods.dtc123.schedule import stage_interval
from backend.methods.progress import ProgressReporter
from backend.teachers import stable_diffusion, zero123
from protocol.messages import Camera
from tests.backend.teachers import tiny_models

pytestmark = pytest.mark.usefixtures("one_thread")

COARSE, FINE = 10, 6
OVERRIDES = {
    "teacher": "zero123", "view_prompts": "off", "reference_depth": "off", "caption": "off",
    "coarse.iterations": COARSE, "coarse.resolution": 16, "coarse.samples": 8, "coarse.lr": 1e-3, "coarse.checkpoint_every": 1000,
    "fine.iterations": FINE, "fine.grid_resolutions": (8, 12), "fine.raster_resolutions": (16, 24), "fine.ddim_fraction": 0.0,
    "fine.checkpoint_every": 1000, "curriculum.step_length": 1, "curriculum.radius_start": 0.02, "curriculum.radius_end": 0.02,
    "export_resolution": 32, "export_faces": 1000, "texture_size": 64,
}  # fmt: skip


def _image() -> Image.Image:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((16, 12, 48, 52), fill=(200, 60, 40, 255))
    return image


def test_the_unets_receive_time_steps_of_one_curriculum_across_both_stages(tmp_path, monkeypatch):
    teachers = {
        "zero123": tiny_models.load_through_registry(zero123.load, {"zero123": tiny_models.zero123(tmp_path / "zero123")}),
        "stable_diffusion": tiny_models.load_through_registry(stable_diffusion.load, {"stable_diffusion": tiny_models.stable_diffusion(tmp_path / "sd")}),
    }
    current: dict[str, int] = {}
    received: list[tuple[int, int, str, int]] = []  # (stage, step, teacher, t)
    for role, teacher in teachers.items():
        teacher.unet.register_forward_pre_hook(lambda module, args, role=role: received.extend((current["stage"], current["step"], role, int(t)) for t in args[1]))
    for module, stage in ((coarse, 1), (fine, 2)):
        task = module.CoarseTask if stage == 1 else module.FineTask
        original = task.step

        def step(self, k, original=original, stage=stage):
            current.update(stage=stage, step=k)
            return original(self, k)

        monkeypatch.setattr(task, "step", step)
    _, config = resolve(get("dtc123"), "tiny", OVERRIDES)
    work = tmp_path / "work"
    work.mkdir()
    context = JobContext(job_id="job", device="cpu", work_dir=work, reporter=ProgressReporter(lambda *_: None, min_interval_s=0.0), generator_dir=tmp_path / "g")
    DTC123Method(load_teacher=lambda role, device, memory: teachers[role]).run(JobInputs("a red ball", "", 3, Camera(elevation_deg=10.0), _image()), config, context)

    steps = teachers["zero123"].schedule.steps
    assert {stage for stage, *_ in received} == {1, 2} and any(role == "stable_diffusion" for _, _, role, _ in received)
    for stage, step, role, t in received:
        low, high = stage_interval(stage, step, COARSE, FINE, config.curriculum)
        assert round(low * (steps - 1)) <= t <= round(high * (steps - 1)), (stage, step, role, t, low, high)
    last_of_stage_1 = max(step for stage, step, *_ in received if stage == 1)
    _, high_at_start_of_stage_2 = stage_interval(2, 0, COARSE, FINE, config.curriculum)
    assert high_at_start_of_stage_2 <= stage_interval(1, last_of_stage_1, COARSE, FINE, config.curriculum)[1], "no jump up"
    overlap = 2 * 0.02 * steps  # the last stage-1 interval and the first stage-2 one may overlap by one interval width
    assert max(t for stage, *_, t in received if stage == 2) <= min(t for stage, *_, t in received if stage == 1) + overlap, "stage 2 does not restart high"
