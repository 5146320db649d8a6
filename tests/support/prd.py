"""A tiny PRD generator folder for the add-on's headless scenarios (the backend loads it; no weights needed)."""

from pathlib import Path


def prd_generator(folder: Path) -> Path:
    """A tiny PRD student (random adapters, so seeds and prompts differ) as a generator folder the backend can load."""
    import torch

    from backend.methods.prd.config import InferenceConfig, StudentConfig
    from backend.methods.prd.generator import save_generator
    from backend.methods.prd.student import base_folder, load_student

    config = StudentConfig(base="tiny", plane_latent=8, rank=4, tiny_width=16, tiny_decoder_levels=2, tiny_pretrain_steps=20)
    base = base_folder(config, folder)
    student, _ = load_student(config, base)
    with torch.no_grad():
        for parameter in student.trainable_parameters():
            parameter.normal_(std=0.05, generator=torch.Generator().manual_seed(parameter.numel()))
    save_generator(folder / "prd", student, InferenceConfig(mesh_resolution=48, preview_resolution=32, texture_size=128), base,
                   {"made_by": "test_headless"})  # fmt: skip
    return folder / "prd"
