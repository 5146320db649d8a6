"""A model folder that exists but is incomplete fails with an error naming the model, for every loader."""

import importlib

import pytest

from backend.teachers import registry
from backend.teachers.model_folder import loader, model_folder
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
def test_marker_only_folders_give_a_broken_model_error(module, function, roles, tmp_path, monkeypatch):
    for role in roles:
        folder = tmp_path / role
        folder.mkdir()
        (folder / registry.ROLES[role].marker).write_text("{}")
        monkeypatch.setenv(registry.ROLE_ENV_PREFIX + role.upper(), str(folder))
    load = getattr(importlib.import_module(f"backend.teachers.{module}"), function)
    with pytest.raises(registry.BrokenModelError) as info:
        load()
    assert info.value.code is ErrorCode.MISSING_MODEL
    assert info.value.details["models"] == roles
    assert all(repr(role) in info.value.message for role in roles) and "distill3d models" in info.value.message


def test_the_guard_passes_wire_errors_and_memory_errors_through(tmp_path):
    @loader("clip")
    def missing():
        return model_folder("clip", tmp_path)

    with pytest.raises(registry.MissingModelError):
        missing()

    @loader("clip")
    def out_of_memory():
        raise MemoryError

    with pytest.raises(MemoryError):
        out_of_memory()
