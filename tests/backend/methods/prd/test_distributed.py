"""PRD distillation under torchrun: two CPU processes (gloo) train one student, and the command resumes from its work folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backend.generators import load
from backend.methods import generator_catalog
from backend.methods.prd.generator import PRDGenerator

ENV = {**{k: v for k, v in os.environ.items() if k != "DISTILL3D_PLUGINS"}, "OMP_NUM_THREADS": "1"}
SETTINGS = ["student.base=tiny", "student.plane_latent=8", "student.rank=4", "student.tiny_width=16", "student.tiny_decoder_levels=2",
            "student.tiny_pretrain_steps=5", 'train.teachers=["synthetic"]', "train.prompts_per_step=1", "train.views=2",
            "render.volume_resolution=8", "render.samples=8", "render.importance_samples=0", "render.raster_resolution=16",
            "render.mesh_grid=12", "train.eikonal_points=32", "train.checkpoint_every=2", "inference.mesh_resolution=24",
            "inference.texture_size=64"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_processes_train_one_student_under_torchrun_and_a_rerun_resumes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    distill3d = shutil.which("distill3d", path=str(Path(sys.executable).parent))
    assert torchrun.exists() and distill3d
    out = tmp_path / "student"
    command = [str(torchrun), "--standalone", "--nproc-per-node", "2", "--no-python", distill3d, "train", "--method", "prd", "--preset", "paper",
               "--device", "cpu", "--out", str(out)] + [part for s in SETTINGS for part in ("--set", s)]  # fmt: skip
    done = subprocess.run(command + ["--set", "train.steps=3"], capture_output=True, text=True, timeout=540, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distil: 3/3" in done.stderr and "diverged" not in done.stderr
    generator = load(str(out), generator_catalog())
    assert isinstance(generator, PRDGenerator) and generator.asset(generator.latent(0, 1.0, generator.condition("a red cube")), "preview")
    again = subprocess.run(command + ["--set", "train.steps=4"], capture_output=True, text=True, timeout=540, env=ENV)
    assert again.returncode == 0 and "resumes at step 3 of 4" in again.stderr, again.stderr[-3000:]
