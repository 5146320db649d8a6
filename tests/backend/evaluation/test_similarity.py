"""CLIP or the stand-in: chosen by what is on disk, named in the headers."""

import pytest
import torch

from backend.evaluation.similarity import SimilarityUnavailable, load_similarity
from backend.teachers import registry


def image(seed: int) -> torch.Tensor:
    out = torch.ones(3, 32, 32)
    out[:, 8:24, 8:24] = torch.rand(3, 1, 1, generator=torch.Generator().manual_seed(seed))
    return out


def test_without_clip_weights_auto_is_the_stand_in_which_has_no_text(monkeypatch, tmp_path):
    monkeypatch.setenv(registry.ROLE_ENV_PREFIX + "CLIP", str(tmp_path / "nothing"))
    similarity = load_similarity("auto")
    assert similarity.label == "stand-in" and similarity.text is None
    scores = similarity.image_scores(torch.stack([image(0), image(1)]), image(0))
    assert scores.shape == (2,) and scores[0] == pytest.approx(1.0, abs=1e-5) and scores[1] < scores[0]
    assert similarity.text_scores(image(0)[None], "a cube") is None
    with pytest.raises(SimilarityUnavailable, match="cannot load CLIP"):
        load_similarity("clip")
    with pytest.raises(SimilarityUnavailable, match="open_clip folder"):
        load_similarity(str(tmp_path / "missing"))


def test_a_clip_folder_scores_images_and_prompts(tmp_path, one_thread):
    from tests.backend.teachers.test_clip import write_tiny_clip

    folder = write_tiny_clip(tmp_path / "clip")
    similarity = load_similarity(str(folder))
    assert similarity.label == "CLIP" and similarity.source == str(folder)
    assert float(similarity.image_scores(image(0)[None], image(0))[0]) == pytest.approx(1.0, abs=1e-4)
    assert similarity.text_scores(torch.stack([image(0), image(1)]), "a red cube").shape == (2,)
