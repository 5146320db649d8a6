"""Data-parallel CAD training under torchrun: two CPU processes with the gloo backend."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backend.generators import load
from backend.methods import generator_catalog


ENV = {**{k: v for k, v in os.environ.items() if k != "DISTILL3D_PLUGINS"}, "OMP_NUM_THREADS": "1"}
"""The test plugins are not importable from the processes torchrun starts, nor needed there."""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_processes_train_one_generator_under_torchrun(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    distill3d = shutil.which("distill3d", path=str(Path(sys.executable).parent))
    assert torchrun.exists() and distill3d
    out = tmp_path / "family.generator"
    command = [
        str(torchrun), "--standalone", "--nproc-per-node", "2", "--no-python", distill3d, "train", "--method", "cad", "--prior", "synthetic", "--family", "snowman",
        "--preset", "tiny", "--device", "cpu", "--out", str(out),
        "--set", "train.stage1_steps=6", "--set", "train.stage2_steps=2", "--set", "sampling.samples=24", "--set", "train.checkpoint_every=4",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=540, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "diverged" not in done.stderr and "stage 2: 2/2" in done.stderr
    generator = load(str(out), generator_catalog())
    assert generator.latent(0, 0.7).code.shape == (generator.latent_dim,)
    assert (tmp_path / "family.generator.work" / "checkpoint.safetensors").exists()
