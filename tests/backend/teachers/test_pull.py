"""``models pull`` against a loopback hub (:mod:`tests.support.hub`) serving tiny checkpoints in the real layouts."""

import hashlib
import os
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from backend.teachers import pull, registry, stable_diffusion
from tests.backend.teachers import tiny_models
from protocol.sizes import human_size
from tests.support.hub import GRANTED_TOKEN, HubServer, use
from tests.support.servers import REPO

SD_REPO = registry.ROLES["stable_diffusion"].default
SD_READ = {"model_index.json", "scheduler/scheduler_config.json", "tokenizer/tokenizer.json", "tokenizer/tokenizer_config.json",
           "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
           "text_encoder/config.json", "text_encoder/model.fp16.safetensors"}  # fmt: skip
"""What the Stable Diffusion loader reads of the repo below: the fp16 variants of the UNet and text encoder, the plain VAE."""
NOT_READ = ("v2-1_512-ema-pruned.safetensors", "unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
            "vae/diffusion_pytorch_model.bin", "README.md")  # fmt: skip
"""Files of that repo no loader reads: the single-file checkpoint, fp32 weights beside fp16 ones, pickles beside safetensors."""
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def sd_repo(tmp_path_factory):
    """Tiny SD 2.1-base as its hub repo holds it: pipeline folders, fp16 variants beside fp32 weights, files no loader reads."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    folder = tiny_models.stable_diffusion(tmp_path_factory.mktemp("sd-repo"))
    tiny_models.fp16_variant(folder / "unet", UNet2DConditionModel)
    tiny_models.fp16_variant(folder / "text_encoder", CLIPTextModel)
    (folder / "v2-1_512-ema-pruned.safetensors").write_bytes(os.urandom(3 * MIB))
    (folder / "vae" / "diffusion_pytorch_model.bin").write_bytes(os.urandom(1000))
    (folder / "README.md").write_text("---\nlicense: openrail++\n---\n")
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == SD_READ | set(NOT_READ)
    return folder


@pytest.fixture
def hub(sd_repo, monkeypatch, tmp_path):
    with HubServer() as server:
        server.add(SD_REPO, sd_repo, licence="openrail++")
        use(server, monkeypatch, tmp_path)
        yield server


def quiet(line: str) -> None:
    pass


def test_a_pulled_role_resolves_and_loads_and_only_what_the_loader_reads_is_fetched(hub, sd_repo, tmp_path):
    assert registry.resolve("stable_diffusion").state == "missing"
    lines = []
    [resolution] = pull.pull(["stable_diffusion"], pull.Hub.create(), lines.append)
    assert resolution.present and resolution.path.is_relative_to(tmp_path / "hub-cache")
    assert {p.relative_to(resolution.path).as_posix() for p in resolution.path.rglob("*") if p.is_file()} == SD_READ
    assert {r.path.split("/resolve/main/")[1] for r in hub.downloads()} == SD_READ
    assert f"openrail++ (https://huggingface.co/{SD_REPO})" in "\n".join(lines) and f"from {hub.url}" in lines[0]
    teacher = stable_diffusion.load()  # through the registry, from the hub cache: the UNet and text encoder from their fp16 variants
    unet = load_file(sd_repo / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    assert all(torch.equal(teacher.unet.state_dict()[name], weight.float()) for name, weight in unet.items())
    text = load_file(sd_repo / "text_encoder" / "model.fp16.safetensors")
    loaded = teacher.prompts.text_encoder.state_dict()
    assert text.keys() <= loaded.keys() and all(torch.equal(loaded[name], weight.float()) for name, weight in text.items())
    hub.requests.clear()
    pull.pull(["stable_diffusion"], pull.Hub.create(), quiet)
    assert hub.downloads() == []  # pulled before: nothing is fetched again


def test_a_dropped_connection_resumes_with_a_range_request(hub, tmp_path):
    """huggingface_hub keeps what it received in whole 10 MiB chunks when a connection drops mid-file and asks for the rest."""
    repo = tmp_path / "turbo"
    repo.mkdir()
    (repo / "triplane_turbo_sd_v1.pth").write_bytes(data := os.urandom(12 * MIB))
    hub.add(registry.ROLES["prd_student"].default, repo)
    hub.drop_after["triplane_turbo_sd_v1.pth"] = 10 * MIB + 12345
    [resolution] = pull.pull(["prd_student"], pull.Hub.create(), quiet)
    assert resolution.present
    assert [r.range for r in hub.downloads("triplane_turbo_sd_v1.pth")] == [None, f"bytes={10 * MIB}-"]
    assert hashlib.sha256((resolution.path / "triplane_turbo_sd_v1.pth").read_bytes()).digest() == hashlib.sha256(data).digest()


def test_an_interrupted_pull_keeps_finished_files_and_the_next_fetches_only_the_rest(hub):
    hub.fail.add("unet/diffusion_pytorch_model.fp16.safetensors")
    with pytest.raises(pull.PullError, match="refused"):
        pull.pull(["stable_diffusion"], pull.Hub.create(), quiet)
    first = {r.path for r in hub.downloads()} - {r.path for r in hub.downloads("unet/diffusion_pytorch_model.fp16.safetensors")}
    assert first and registry.resolve("stable_diffusion").state == "partial"
    hub.fail.clear()
    hub.requests.clear()
    [resolution] = pull.pull(["stable_diffusion"], pull.Hub.create(), quiet)
    second = {r.path for r in hub.downloads()}
    assert resolution.present and not first & second and len(first | second) == len(SD_READ)


def test_not_enough_disk_space_refuses_before_fetching_anything(hub, monkeypatch):
    real = pull.shutil.disk_usage
    monkeypatch.setattr(pull.shutil, "disk_usage", lambda path: real(path)._replace(free=4096))
    with pytest.raises(pull.PullError) as info:
        pull.pull(["stable_diffusion"], pull.Hub.create(), quiet)
    assert "not enough disk space" in str(info.value) and "4096 bytes) is free" in str(info.value)
    assert "need" in str(info.value) and hub.downloads() == [] and [r.method for r in hub.requests] == ["GET"]  # the listing only


def test_a_gated_repo_explains_the_licence_and_the_token_then_pulls_with_one(hub, tmp_path):
    role = registry.ROLES["deepfloyd_if_stage2"]
    hub.add(role.default, tiny_models.if_stage2(tmp_path / "if2"), gated=True)
    lines = []
    with pytest.raises(pull.PullError) as info:
        pull.pull([role.role], pull.Hub.create(), lines.append)
    message = str(info.value)
    for words in ("is gated (no token was sent)", "accept the licence", f"{hub.url}/{role.default}", role.licence.url, "--token", "HF_TOKEN", "hf auth login"):
        assert words in message, words
    assert any("gated" in line for line in lines) and not any(r.path.endswith(".safetensors") for r in hub.downloads())
    [resolution] = pull.pull([role.role], pull.Hub.create(token=GRANTED_TOKEN), quiet)
    assert resolution.present and {r.authorization for r in hub.downloads() if r.range is None} >= {f"Bearer {GRANTED_TOKEN}"}


def test_a_role_pointed_at_a_folder_is_pulled_into_that_folder(hub, tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "STABLE_DIFFUSION", str(tmp_path / "models" / "sd"))
    [resolution] = pull.pull(["stable_diffusion"], pull.Hub.create(), quiet)
    assert resolution.path == tmp_path / "models" / "sd" and (resolution.path / "unet" / "diffusion_pytorch_model.fp16.safetensors").is_file()
    assert not (tmp_path / "hub-cache").exists()


def test_an_unknown_repo_and_an_unreachable_hub_are_named(hub, monkeypatch):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "ZERO123", "nobody/no-such-model")
    with pytest.raises(pull.PullError, match=f"nobody/no-such-model is not on the hub at {hub.url}"):
        pull.pull(["zero123"], pull.Hub.create(), quiet)
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(pull.PullError, match=f"cannot reach the hub at {closed}"):
        pull.pull(["stable_diffusion"], pull.Hub.create(closed), quiet)


def test_a_pull_killed_mid_file_is_continued_from_its_last_whole_chunk_by_the_next(hub, tmp_path):
    """``distill3d models pull`` killed (SIGKILL: nothing of it runs after) while a 24 MiB file arrives slowly; the next
    pull asks only for the rest, and the file is whole."""
    repo = tmp_path / "turbo"
    repo.mkdir()
    (repo / "triplane_turbo_sd_v1.pth").write_bytes(data := os.urandom(24 * MIB))
    hub.add(registry.ROLES["prd_student"].default, repo)
    hub.bytes_per_s = 4 * MIB
    command = [sys.executable, "-m", "backend.cli", "models", "pull", "prd_student"]
    child = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (partial := [p for p in (tmp_path / "hub-cache").rglob(f"*{pull.PARTIAL_SUFFIX}") if p.stat().st_size >= 10 * MIB]):
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode() if child.poll() is not None else "slow"
            time.sleep(0.05)
    finally:
        child.kill()
        child.wait()
    kept = partial[0].stat().st_size
    assert kept % (10 * MIB) == 0 and registry.resolve("prd_student").state == "missing"
    assert registry.resolve("prd_student").kept_bytes() == kept, "`distill3d models` and the add-on show what is kept"
    hub.bytes_per_s, hub.requests[:] = None, []
    lines = []
    [resolution] = pull.pull(["prd_student"], pull.Hub.create(), lines.append)
    assert resolution.present and [r.range for r in hub.downloads("triplane_turbo_sd_v1.pth")] == [f"bytes={kept}-"]
    assert any(f"resumed after {human_size(kept)}" in line for line in lines), lines
    assert hashlib.sha256((resolution.path / "triplane_turbo_sd_v1.pth").read_bytes()).digest() == hashlib.sha256(data).digest()
    assert not list((tmp_path / "hub-cache").rglob(f"*{pull.PARTIAL_SUFFIX}")) and not list((tmp_path / "hub-cache").rglob("*.incomplete"))
    assert registry.resolve("prd_student").kept_bytes() == 0


def test_a_partial_file_in_a_roles_folder_is_continued_and_the_folder_left_clean(hub, tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "PRD_STUDENT", str(tmp_path / "models" / "turbo"))
    repo = tmp_path / "turbo"
    repo.mkdir()
    (repo / "triplane_turbo_sd_v1.pth").write_bytes(data := os.urandom(3 * MIB))
    hub.add(registry.ROLES["prd_student"].default, repo)
    etag = hashlib.sha256(data).hexdigest()
    left = tmp_path / "models" / "turbo" / f"triplane_turbo_sd_v1.pth.{etag[:16]}{pull.PARTIAL_SUFFIX}"
    left.parent.mkdir(parents=True)
    left.write_bytes(data[: MIB + 5])  # what a stopped pull left
    [resolution] = pull.pull(["prd_student"], pull.Hub.create(), quiet)
    assert [r.range for r in hub.downloads("triplane_turbo_sd_v1.pth")] == [f"bytes={MIB + 5}-"]
    assert (resolution.path / "triplane_turbo_sd_v1.pth").read_bytes() == data and not left.exists()


def test_files_the_hub_sends_to_another_host_are_fetched_there_without_the_token(hub, tmp_path):
    """The real hub answers large files with a redirect to its CDN's signed URL: the token must stay with the hub."""
    role = registry.ROLES["deepfloyd_if_stage2"]
    hub.add(role.default, tiny_models.if_stage2(tmp_path / "if2"), gated=True)
    hub.cdn_host = "localhost"  # the endpoint is 127.0.0.1: another host for the client
    [resolution] = pull.pull([role.role], pull.Hub.create(token=GRANTED_TOKEN), quiet)
    assert resolution.present
    cdn = [r for r in hub.requests if r.path.startswith("/cdn/") and r.method == "GET"]
    asked = [r for r in hub.requests if "/resolve/" in r.path]
    assert cdn and all(r.authorization is None for r in cdn), "no token to the CDN"
    assert asked and all(r.authorization == f"Bearer {GRANTED_TOKEN}" for r in asked), "the hub gets it"


def test_a_file_the_repo_changed_is_fetched_once_into_a_roles_folder(hub, tmp_path, monkeypatch):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "PRD_STUDENT", str(tmp_path / "models" / "turbo"))
    repo = tmp_path / "turbo"
    repo.mkdir()
    (repo / "triplane_turbo_sd_v1.pth").write_bytes(os.urandom(2 * MIB))
    hub.add(registry.ROLES["prd_student"].default, repo)
    pull.pull(["prd_student"], pull.Hub.create(), quiet)
    (repo / "triplane_turbo_sd_v1.pth").write_bytes(data := os.urandom(3 * MIB))  # a new upload: huggingface_hub's record is stale
    hub.requests.clear()
    [resolution] = pull.pull(["prd_student"], pull.Hub.create(), quiet)
    target = tmp_path / "models" / "turbo" / "triplane_turbo_sd_v1.pth"
    assert resolution.present and target.read_bytes() == data and len(hub.downloads("triplane_turbo_sd_v1.pth")) == 1
