"""CLIP scoring: a tiny random open_clip model saved in the hub layout, loaded through the real loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from backend.teachers import clip, registry
from tests.backend.teachers.tiny_models import load_through_registry

TINY_CONFIG = {
    "model_cfg": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
}



def write_tiny_clip(folder: Path) -> Path:
    """A random tiny CLIP in open_clip's hub layout (open_clip_config.json + open_clip_model.safetensors)."""
    import open_clip
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_CONFIG["model_cfg"])
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny")


@pytest.fixture(scope="module")
def scorer(tiny_folder: Path) -> clip.ClipScorer:
    return load_through_registry(clip.load, {"clip": tiny_folder})


def images(seed: int, batch: int = 1, size: tuple[int, int] = (48, 40)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=generator)


def test_loads_through_the_registry_with_the_configs_preprocessing(scorer: clip.ClipScorer):
    assert scorer.image_preprocess.size == (32, 32)
    assert scorer.image_preprocess.mean == tuple(TINY_CONFIG["preprocess_cfg"]["mean"])
    assert scorer.tokenizer(["a chair"]).shape == (1, 16)


def test_loaded_weights_are_the_saved_ones(scorer: clip.ClipScorer, tiny_folder: Path):
    from safetensors.torch import load_file

    saved = load_file(str(tiny_folder / "open_clip_model.safetensors"))
    loaded = scorer.model.state_dict()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


def test_embeddings_are_unit_norm(scorer: clip.ClipScorer):
    image = scorer.image_embeddings(images(1, batch=3))
    text = scorer.text_embeddings(["a wooden chair", "a red car"])
    assert image.shape == (3, 16) and text.shape == (2, 16)
    assert torch.allclose(image.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(text[0], text[1])


def test_identical_images_have_similarity_one(scorer: clip.ClipScorer):
    batch = images(2, batch=3)
    similarity = scorer.image_similarity(batch, batch.clone())
    assert similarity.shape == (3, 3)
    assert torch.allclose(similarity.diagonal(), torch.ones(3), atol=1e-5)


def test_an_image_ranks_closest_to_itself(scorer: clip.ClipScorer):
    reference = images(3)
    noisy_copy = (reference + 0.02 * torch.randn(reference.shape, generator=torch.Generator().manual_seed(9))).clamp(0, 1)
    candidates = torch.cat([images(4), noisy_copy, images(5), images(6)])
    similarity = scorer.image_similarity(candidates, reference)[:, 0]
    assert similarity.shape == (4,)
    assert similarity.argmax().item() == 1


def test_text_similarity_is_images_by_prompts(scorer: clip.ClipScorer):
    similarity = scorer.text_similarity(images(7, batch=2), ["a chair", "a car", "a lamp"])
    assert similarity.shape == (2, 3)
    assert bool(((similarity >= -1.0 - 1e-5) & (similarity <= 1.0 + 1e-5)).all())


def test_gradients_flow_to_the_images(scorer: clip.ClipScorer):
    batch = images(8, batch=2).requires_grad_(True)
    (scorer.image_similarity(batch, images(9)).sum() + scorer.text_similarity(batch, ["a chair"]).sum()).backward()
    assert batch.grad is not None and torch.isfinite(batch.grad).all() and batch.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in scorer.model.parameters())


def test_preprocess_covers_then_centre_crops_and_normalises():
    spec = clip.ImagePreprocess(size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    image = torch.zeros(1, 3, 32, 64)
    image[..., 16:48] = 1.0  # only the centre half is bright
    out = clip.preprocess(image, spec)
    assert out.shape == (1, 3, 32, 32)
    assert torch.allclose(out, torch.full_like(out, 2.0))
    assert clip.preprocess(torch.full((2, 3, 50, 70), 0.5), spec).abs().max() < 1e-5
    squash = clip.ImagePreprocess(size=(32, 32), mean=(0.0,) * 3, std=(1.0,) * 3, resize_mode="squash")
    assert clip.preprocess(image, squash).shape == (1, 3, 32, 32)


def test_missing_model_names_the_role(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DISTILL3D_MODEL_CLIP", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(registry.MissingModelError) as error:
        clip.load()
    assert error.value.missing[0].role == "clip"
    assert "clip" in str(error.value)
    with pytest.raises(registry.MissingModelError):
        clip.load(tmp_path / "empty")


def test_config_without_weights_is_refused(tmp_path: Path):
    (tmp_path / "open_clip_config.json").write_text(json.dumps(TINY_CONFIG), encoding="utf-8")
    with pytest.raises(registry.MissingModelError, match="incomplete.*no weight file"):
        clip.load(tmp_path)


@pytest.mark.weights
@pytest.mark.skipif(not registry.resolve("clip").present, reason="real CLIP weights are not on disk")
def test_real_clip_prefers_the_matching_colour():
    scorer = clip.load()
    red = torch.zeros(1, 3, 224, 224)
    red[:, 0] = 1.0
    similarity = scorer.text_similarity(red, ["a plain red image", "a plain blue image"])
    assert similarity[0, 0] > similarity[0, 1]
    assert torch.allclose(scorer.image_similarity(red, red), torch.ones(1, 1), atol=1e-4)
