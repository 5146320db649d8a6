"""Which weight files a folder is read in, and which `models pull` fetches: one set per folder, fp16 first, safetensors before pickles."""

import pytest
import torch

from backend.teachers import weight_files
from backend.teachers.model_folder import read_weights


@pytest.mark.parametrize("name, kind", [
    ("diffusion_pytorch_model.safetensors", (None, "safetensors")),
    ("diffusion_pytorch_model.fp16.safetensors", ("fp16", "safetensors")),
    ("model-00001-of-00002.safetensors", (None, "safetensors")),
    ("model.fp16-00001-of-00002.safetensors", ("fp16", "safetensors")),
    ("model.safetensors.index.fp16.json", ("fp16", "safetensors")),
    ("pytorch_model.bin.index.json", (None, "pickle")),
    ("diffusion_pytorch_model.fp16_ema.safetensors", ("fp16_ema", "safetensors")),
    ("triplane_turbo_sd_v1.pth", (None, "pickle")),
    ("config.json", None),
    ("tf_model.h5", None),
])  # fmt: skip
def test_kind_reads_variant_and_format_from_the_name(name, kind):
    assert weight_files.kind(name) == kind


def test_choose_keeps_one_weight_set_per_folder_and_every_other_file():
    """The layout of DeepFloyd/IF-I-XL-v1.0 (abridged): sharded T5 in fp32 and fp16, UNet in fp32, fp16 and pickles."""
    repo = ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.bin", "unet/diffusion_pytorch_model.fp16.safetensors", "text_encoder/config.json",
            "text_encoder/model-00001-of-00002.safetensors", "text_encoder/model-00002-of-00002.safetensors",
            "text_encoder/model.safetensors.index.json", "text_encoder/model.fp16-00001-of-00002.safetensors",
            "text_encoder/model.fp16-00002-of-00002.safetensors", "text_encoder/model.safetensors.index.fp16.json",
            "vae/diffusion_pytorch_model.bin", "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16_ema.safetensors",
            "watermarker/diffusion_pytorch_model.bin"]  # fmt: skip
    assert weight_files.choose(repo) == [
        "model_index.json", "text_encoder/config.json", "text_encoder/model.fp16-00001-of-00002.safetensors",
        "text_encoder/model.fp16-00002-of-00002.safetensors", "text_encoder/model.safetensors.index.fp16.json", "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.safetensors", "watermarker/diffusion_pytorch_model.bin",
    ]  # fmt: skip


def test_a_folder_is_read_in_the_variant_it_was_fetched_in(tmp_path):
    from safetensors.torch import save_file

    assert weight_files.variant(tmp_path / "absent") is None
    save_file({"w": torch.zeros(2)}, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    (tmp_path / "diffusion_pytorch_model.fp16_ema.safetensors").write_bytes(b"")
    assert weight_files.variant(tmp_path) is None and read_weights(tmp_path, ("diffusion_pytorch_model.safetensors",))["w"].dtype == torch.float32
    save_file({"w": torch.ones(2, dtype=torch.float16)}, str(tmp_path / "diffusion_pytorch_model.fp16.safetensors"))
    assert weight_files.variant(tmp_path) == "fp16" and weight_files.with_variant("model.safetensors.index.json", "fp16") == "model.safetensors.index.fp16.json"
    assert read_weights(tmp_path, ("diffusion_pytorch_model.safetensors",))["w"].dtype == torch.float16


def test_files_still_being_fetched_are_no_weights():
    for name in ("diffusion_pytorch_model.fp16.safetensors.0123456789abcdef.distill3d-partial", "model.safetensors.incomplete",
                 "9612f7da93828f61cc922595f34bc65ddc8a9b1c7bcd9b59025d13be8cb45d39.0e15e1c8.incomplete"):  # fmt: skip
        assert weight_files.kind(name) is None, name
    assert weight_files.kind("diffusion_pytorch_model.fp16.safetensors") == ("fp16", "safetensors")


def test_a_folder_holding_only_a_partial_download_is_not_a_present_model(tmp_path, monkeypatch):
    from backend.teachers import registry

    folder = tmp_path / "controlnet"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "diffusion_pytorch_model.safetensors.0123456789abcdef.distill3d-partial").write_bytes(bytes(100))
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "CONTROLNET_DEPTH", str(folder))
    assert registry.resolve("controlnet_depth").state == "partial"
