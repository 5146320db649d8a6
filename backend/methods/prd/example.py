"""PRD's weight-free example job: a tiny random-weight student (base models built here, fresh adapters)."""

from __future__ import annotations

from pathlib import Path

from ..spec import ExampleJob


def example_job(folder: Path) -> ExampleJob:
    """A mesh from the tiny untrained student: the pipeline end to end, no weights (it starts as PRD's sphere bias)."""
    from .config import InferenceConfig, StudentConfig
    from .generator import save_generator
    from .student import base_folder, load_student

    config = StudentConfig(base="tiny", plane_latent=8, rank=4, tiny_width=16, tiny_decoder_levels=2, tiny_pretrain_steps=20)
    base = base_folder(config, folder)
    student, _ = load_student(config, base)
    save_generator(folder / "student", student, InferenceConfig(), base, {"made_by": "the example job"})
    return ExampleJob("paper", params={"student.base": "tiny", "student.plane_latent": 8, "student.rank": 4, "student.tiny_width": 16,
                                       "student.tiny_decoder_levels": 2, "student.tiny_pretrain_steps": 20, "weights": str(folder / "student" / "student.safetensors"),
                                       "inference.mesh_resolution": 32, "inference.texture_size": 128}, prompt="a red cube")  # fmt: skip
