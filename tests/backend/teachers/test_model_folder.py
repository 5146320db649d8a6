"""A model folder that exists but is incomplete fails with an error naming the model, for every loader."""

import importlib

import pytest

from backend.teachers import registry
from backend.teachers.model_folder import model_folder, reading
from protocol.errors import ErrorCode

LOADERS = [
    ("zero123", "load", ["zero123"]),
    ("stable_diffusion", "load", ["stable_diffusion"]),
    ("controlnet_depth", "load", ["controlnet_depth", "controlnet_base"]),
    ("deepfloyd_if", "load", ["deepfloyd_if_stage1", "deepfloyd_if_stage2"]),
    ("deepfloyd_if", "load_stage1", ["deepfloyd_if_stage1"]),
    ("mvdream", "load", ["mvdream"]),
    ("clip", "load", ["clip"]),
]


@pytest.mark.parametrize("module, function, roles", LOADERS)
def test_marker_only_folders_give_an_error_naming_the_model(module, function, roles, tmp_path, monkeypatch):
    """Single-model folders without weights are caught as incomplete before loading; diffusers folders whose
    index names nothing get as far as loading and fail there — both as ``missing_model`` naming the role."""
    for role in roles:
        folder = tmp_path / role
        folder.mkdir()
        (folder / registry.ROLES[role].marker).write_text("{}")
        monkeypatch.setenv(registry.ROLE_ENV_PREFIX + role.upper(), str(folder))
    load = getattr(importlib.import_module(f"backend.teachers.{module}"), function)
    with pytest.raises((registry.BrokenModelError, registry.MissingModelError)) as info:
        load()
    assert info.value.code is ErrorCode.MISSING_MODEL
    assert info.value.details["models"] == roles[:1]  # the first broken folder is named
    assert repr(roles[0]) in info.value.message and "distill3d models" in info.value.message


def test_the_guard_passes_wire_errors_and_memory_errors_through(tmp_path):
    with pytest.raises(registry.MissingModelError):
        with reading("clip"):
            model_folder("clip", tmp_path)
    with pytest.raises(MemoryError):
        with reading("clip"):
            raise MemoryError


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: importlib.import_module("backend.teachers.clip").load(dtype="float16"), "unsupported CLIP dtype"),
        (lambda: importlib.import_module("backend.teachers.stable_diffusion").load(device="cuda"), "CUDA"),
    ],
)
def test_bad_arguments_keep_their_own_message(call, words, tmp_path, monkeypatch):
    if words == "CUDA":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=words):
        call()
