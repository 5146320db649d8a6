"""Image metrics on known cases: PSNR of identical images is capped, a known MSE gives its dB; LPIPS of identical images is 0."""

import pytest
import torch

from backend.evaluation.images import PSNR_CAP, load_lpips, object_box, psnr


def test_psnr_of_identical_images_is_the_cap_and_a_known_error_its_db():
    a = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert psnr(a, a).tolist() == [PSNR_CAP, PSNR_CAP]
    assert float(psnr(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.1))[0]) == pytest.approx(20.0, abs=1e-4)
    with pytest.raises(ValueError, match="one shape"):
        psnr(a, a[:, :, :8])


def test_psnr_on_the_object_box_ignores_the_shared_background():
    reference, result = torch.ones(1, 3, 20, 20), torch.ones(1, 3, 20, 20)
    reference[..., 5:10, 5:10] = 0.0
    result[..., 5:10, 5:9] = 0.0  # one column of the object missing
    masks = torch.stack([(reference[0, 0] < 1).float(), (result[0, 0] < 1).float()])
    box = object_box(masks)
    assert box == (5, 10, 5, 10)
    assert float(psnr(result, reference, box)[0]) < float(psnr(result, reference)[0]), "the white margin no longer dilutes the error"


def test_the_box_of_empty_masks_is_the_whole_image():
    assert object_box(torch.zeros(2, 6, 9)) == (0, 6, 0, 9)


def test_lpips_of_identical_images_is_zero_and_the_label_says_which_backbone(one_thread):
    lpips = load_lpips()
    a = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert float(lpips(a, a)[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(lpips(a, 1 - a)[0]) > 0
    assert lpips.label == ("LPIPS" if lpips.real else "LPIPS(rand)")
