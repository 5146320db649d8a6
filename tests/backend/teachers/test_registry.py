import json
import subprocess
import sys

import pytest

from backend.teachers import registry
from tests.support.servers import REPO


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No user config, no role overrides, an empty hub cache."""
    for role in registry.ROLES:
        monkeypatch.delenv(registry.ROLE_ENV_PREFIX + role.upper(), raising=False)
    monkeypatch.setenv(registry.CONFIG_ENV, str(tmp_path / "models.toml"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def model_folder(path, marker="model_index.json"):
    path.mkdir(parents=True)
    (path / marker).write_text("{}")
    return path


def test_defaults_resolve_to_hub_ids_and_are_missing_here():
    resolution = registry.resolve("zero123")
    assert (resolution.reference, resolution.source, resolution.present) == ("bennyguo/zero123-xl-diffusers", "default", False)
    with pytest.raises(registry.MissingModelError) as info:
        registry.require("zero123")
    message = str(info.value)
    assert "bennyguo/zero123-xl-diffusers" in message and "DISTILL3D_MODEL_ZERO123" in message and "distill3d models" in message


def test_environment_beats_config_file_beats_default(tmp_path, monkeypatch):
    from_file = model_folder(tmp_path / "from-file")
    from_env = model_folder(tmp_path / "from-env")
    (tmp_path / "models.toml").write_text(f'[models]\nzero123 = "{from_file}"\n')
    assert registry.resolve("zero123").path == from_file
    assert registry.resolve("zero123").source == str(tmp_path / "models.toml")
    monkeypatch.setenv("DISTILL3D_MODEL_ZERO123", str(from_env))
    assert registry.require("zero123") == from_env


def test_a_folder_without_the_marker_file_is_not_the_model(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("DISTILL3D_MODEL_CLIP", str(tmp_path / "empty"))
    resolution = registry.resolve("clip")
    assert not resolution.present and "open_clip_config.json" in resolution.how_to_obtain()


def test_a_model_in_the_hub_cache_is_found(tmp_path):
    snapshot = tmp_path / "hub" / "models--bennyguo--zero123-xl-diffusers" / "snapshots" / "abc123"
    model_folder(snapshot)
    (tmp_path / "hub" / "models--bennyguo--zero123-xl-diffusers" / "refs").mkdir()
    (tmp_path / "hub" / "models--bennyguo--zero123-xl-diffusers" / "refs" / "main").write_text("abc123")
    assert registry.resolve("zero123").path == snapshot


def test_check_present_lists_every_missing_model():
    with pytest.raises(registry.MissingModelError) as info:
        registry.check_present(["zero123", "stable_diffusion", "zero123"])
    assert [r.role for r in info.value.missing] == ["zero123", "stable_diffusion"]


@pytest.mark.parametrize("content, words", [("[models]\nteapot = 'x'\n", "unknown model roles teapot"), ("[models\n", "cannot read"), ("[models]\nclip = 3\n", "strings")])
def test_broken_config_files_are_named(tmp_path, content, words):
    (tmp_path / "models.toml").write_text(content)
    with pytest.raises(ValueError, match=words):
        registry.resolve("clip")


def test_unknown_role():
    with pytest.raises(ValueError, match="known: zero123"):
        registry.resolve("dalle")


def test_models_command_on_a_machine_without_weights(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(registry.ROLE_ENV_PREFIX)}
    listing = subprocess.run([sys.executable, "-m", "backend.cli", "models"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    for role in registry.ROLES:
        assert f"{role}: MISSING" in listing.stdout
    assert "to get it: download it" in listing.stdout and f"0 of {len(registry.ROLES)} models present" in listing.stdout
    as_json = subprocess.run([sys.executable, "-m", "backend.cli", "models", "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    rows = json.loads(as_json.stdout)
    assert {row["role"] for row in rows} == set(registry.ROLES) and not any(row["present"] for row in rows)
    (tmp_path / "models.toml").write_text("[models\n")
    broken = subprocess.run([sys.executable, "-m", "backend.cli", "models"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2 and "cannot read the models config" in broken.stderr


def test_an_incomplete_download_is_not_present(tmp_path, monkeypatch):
    import json

    folder = model_folder(tmp_path / "sd")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
                                                         "tokenizer": ["transformers", "CLIPTokenizer"], "safety_checker": [None, None]}))
    (folder / "tokenizer").mkdir()
    (folder / "unet").mkdir()
    (folder / "unet" / "config.json").write_text("{}")
    monkeypatch.setenv("DISTILL3D_MODEL_STABLE_DIFFUSION", str(folder))
    resolution = registry.resolve("stable_diffusion")
    assert not resolution.present and "unet has no weight file" in resolution.problem
    with pytest.raises(registry.MissingModelError, match="is incomplete"):
        registry.require("stable_diffusion")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert registry.resolve("stable_diffusion").present
    (folder / "model_index.json").write_text("{not json")
    assert "unreadable" in registry.resolve("stable_diffusion").problem
