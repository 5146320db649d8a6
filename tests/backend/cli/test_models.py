"""``distill3d models`` and ``distill3d models pull`` as a user runs them, against a loopback hub (:mod:`tests.support.hub`)."""

import json

import pytest

from backend.cli import main
from backend.cli.common import EXIT_JOB_FAILED, EXIT_OK, EXIT_USAGE
from backend.teachers import registry
from tests.support.hub import GRANTED_TOKEN, HubServer, use


def write(path, data: bytes = b"{}"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def pipeline(folder, *components):
    """A diffusers pipeline folder whose ``components`` hold a config and 1000 bytes of weights (enough for the registry)."""
    write(folder / "model_index.json", json.dumps({c: ["diffusers", "UNet2DConditionModel"] for c in components}).encode())
    for c in components:
        write(folder / c / "config.json")
        write(folder / c / "diffusion_pytorch_model.safetensors", bytes(1000))
    return folder


@pytest.fixture
def hub(monkeypatch, tmp_path):
    with HubServer() as server:
        use(server, monkeypatch, tmp_path)
        yield server


def test_models_shows_state_size_and_licence_of_every_role(hub, tmp_path, monkeypatch, capsys):
    write(tmp_path / "clip" / "open_clip_config.json")
    write(tmp_path / "clip" / "open_clip_model.safetensors", bytes(1_500_000))
    monkeypatch.setenv("DISTILL3D_MODEL_CLIP", str(tmp_path / "clip"))
    partial = pipeline(tmp_path / "sd", "unet")
    (partial / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    monkeypatch.setenv("DISTILL3D_MODEL_STABLE_DIFFUSION", str(partial))
    assert main(["models"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"clip: present, 1.5 MB on disk at {tmp_path / 'clip'}" in out and "licence: mit (https://opensource.org/license/mit)" in out
    assert f"stable_diffusion: partial, {len((partial / 'model_index.json').read_bytes()) + 2} B on disk at {partial}" in out
    assert "unet has no weight file; run `distill3d models pull stable_diffusion` to complete it" in out
    assert "zero123: missing\n" in out and "to get it: run `distill3d models pull zero123`" in out
    assert "licence: deepfloyd-if-license (https://huggingface.co/spaces/DeepFloyd/deepfloyd-if-license); download about 18.2 GB; gated" in out
    assert f"1 of {len(registry.ROLES)} models present" in out
    assert main(["models", "--json"]) == EXIT_OK
    rows = {row["role"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["clip"]["state"] == "present" and rows["clip"]["bytes_on_disk"] == 1_500_002 and rows["stable_diffusion"]["state"] == "partial"
    assert rows["deepfloyd_if_stage1"]["gated"] and rows["zero123"]["licence"]["name"] == "mit" and rows["zero123"]["bytes_on_disk"] == 0
    (tmp_path / "models.toml").write_text("[models\n")
    assert main(["models"]) == EXIT_USAGE and "cannot read the models config" in capsys.readouterr().err


def test_models_pull_fetches_what_a_method_needs(hub, tmp_path, monkeypatch, capsys):
    hub.add(registry.ROLES["stable_diffusion"].default, pipeline(tmp_path / "sd-repo", "unet", "vae"))
    hub.add(registry.ROLES["prd_student"].default, write(tmp_path / "turbo" / "triplane_turbo_sd_v1.pth", bytes(5000)).parent)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # --endpoint wins
    assert main(["models", "pull", "--method", "prd", "--preset", "paper", "--endpoint", hub.url]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"stable_diffusion: stabilityai/stable-diffusion-2-1-base from {hub.url} into the hub cache {tmp_path / 'hub-cache'}" in out
    assert "5 files, 2.1 kB; to fetch: 5 files, 2.1 kB" in out and "prd_student: present at" in out and "stable_diffusion: present at" in out
    assert main(["models"]) == EXIT_OK and "stable_diffusion: present, 2.1 kB on disk" in capsys.readouterr().out


def test_models_pull_a_gated_model_needs_the_token(hub, tmp_path, capsys):
    hub.add(registry.ROLES["deepfloyd_if_stage2"].default, pipeline(tmp_path / "if2", "unet"), gated=True)
    assert main(["models", "pull", "deepfloyd_if_stage2"]) == EXIT_JOB_FAILED
    captured = capsys.readouterr()
    assert "gated: " in captured.out and "is gated (no token was sent)" in captured.err and "--token" in captured.err
    assert main(["models", "pull", "deepfloyd_if_stage2", "--token", GRANTED_TOKEN]) == EXIT_OK


@pytest.mark.parametrize("argv, code, words", [
    (["models", "pull"], EXIT_USAGE, "name the models to pull"),
    (["models", "pull", "--preset", "paper"], EXIT_USAGE, "--preset needs --method"),
    (["models", "pull", "dalle"], EXIT_USAGE, "unknown model role 'dalle'"),
    (["models", "pull", "--method", "nerf"], EXIT_USAGE, "unknown method 'nerf'"),
    (["models", "pull", "--method", "prd", "--preset", "demo"], EXIT_OK, "a prd job with preset demo needs no pretrained models"),
])  # fmt: skip
def test_models_pull_says_what_is_wrong_with_its_arguments(hub, argv, code, words, capsys):
    assert main(argv) == code
    captured = capsys.readouterr()
    assert words in captured.out + captured.err and hub.requests == []


def test_models_shows_what_a_stopped_pull_left_for_the_next(hub, tmp_path, capsys):
    blobs = tmp_path / "hub-cache" / "models--ZhiyuanthePony--TriplaneTurbo" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / ("ab" * 32 + ".distill3d-partial")).write_bytes(bytes(20_000_000))
    assert main(["models"]) == EXIT_OK
    assert "a stopped pull left 20.0 MB of it: `distill3d models pull prd_student` continues from there" in capsys.readouterr().out
    assert main(["models", "--json"]) == EXIT_OK
    assert {row["role"]: row["kept_bytes"] for row in json.loads(capsys.readouterr().out)}["prd_student"] == 20_000_000
