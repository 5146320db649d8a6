"""A tiny PRD student on tiny random-weight base models in SD 2.1-base's layout, built once per test session."""

import pytest

from backend.methods.prd.config import StudentConfig

TINY = StudentConfig(base="tiny", plane_latent=8, rank=4, tiny_width=16, tiny_decoder_levels=2, tiny_pretrain_steps=20)
"""Planes of 8² latents decoded to 16² feature planes; UNet widths 16 and 32, briefly pretrained."""


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    from backend.methods.prd.student import base_folder

    return base_folder(TINY, tmp_path_factory.mktemp("prd"))


@pytest.fixture
def tiny_student(tiny_base):
    from backend.methods.prd.student import load_student

    return load_student(TINY, tiny_base)
