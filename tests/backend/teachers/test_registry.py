import json

import pytest

from backend.teachers import registry


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
    assert "run `distill3d models pull zero123`" in message and registry.resolve("zero123").state == "missing"


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


def test_an_incomplete_download_is_not_present(tmp_path, monkeypatch):
    folder = model_folder(tmp_path / "sd")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
                                                         "tokenizer": ["transformers", "CLIPTokenizer"], "safety_checker": [None, None]}))
    (folder / "tokenizer").mkdir()
    (folder / "unet").mkdir()
    (folder / "unet" / "config.json").write_text("{}")
    monkeypatch.setenv("DISTILL3D_MODEL_STABLE_DIFFUSION", str(folder))
    resolution = registry.resolve("stable_diffusion")
    assert not resolution.present and "unet has no weight file" in resolution.problem
    assert resolution.state == "partial" and resolution.found == folder and "run `distill3d models pull stable_diffusion` to complete it" in resolution.how_to_obtain()
    with pytest.raises(registry.MissingModelError, match="is incomplete"):
        registry.require("stable_diffusion")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    assert registry.resolve("stable_diffusion").present
    (folder / "model_index.json").write_text("{not json")
    assert "unreadable" in registry.resolve("stable_diffusion").problem


def test_components_the_loader_does_not_read_need_no_weights(tmp_path, monkeypatch):
    """SD 1.5's repo names a safety checker; the loader never reads it, so `models pull` does not fetch it and it is not missed."""
    folder = model_folder(tmp_path / "sd15")
    (folder / "model_index.json").write_text(json.dumps({"unet": ["diffusers", "UNet2DConditionModel"], "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]}))
    for component in ("unet", "safety_checker"):
        (folder / component).mkdir()
        (folder / component / "config.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"1234")
    monkeypatch.setenv("DISTILL3D_MODEL_CONTROLNET_BASE", str(folder))
    resolution = registry.resolve("controlnet_base")
    assert resolution.present and resolution.bytes_on_disk() == len(b"1234") + len((folder / "model_index.json").read_bytes()) + 4
