import torch

from backend.core.triplane import TriplaneDecoder, aggregate, density_activation, sample_triplane, triplane_features


def test_texel_centres_return_their_values_and_outside_is_zero():
    resolution, box = 4, (-0.7, 0.7)
    planes = torch.randn(1, 3, 2, resolution, resolution)
    size = (box[1] - box[0]) / resolution
    centre = lambda index: box[0] + (index + 0.5) * size  # noqa: E731
    i, j, k = 1, 2, 3  # x index, y index, z index
    point = torch.tensor([[[centre(i), centre(j), centre(k)]]])
    features = sample_triplane(planes, point, box)[0, 0]  # (3, C)
    assert torch.allclose(features[0], planes[0, 0, :, j, i], atol=1e-6)  # xy: row y, column x
    assert torch.allclose(features[1], planes[0, 1, :, k, i], atol=1e-6)  # xz: row z, column x
    assert torch.allclose(features[2], planes[0, 2, :, k, j], atol=1e-6)  # yz: row z, column y
    outside = sample_triplane(planes, torch.tensor([[[5.0, 5.0, 5.0]]]), box)
    assert torch.count_nonzero(outside) == 0


def test_aggregation_and_decoder_shapes():
    features = torch.randn(2, 10, 3, 8)
    assert aggregate(features, "sum").shape == (2, 10, 8) and aggregate(features, "concat").shape == (2, 10, 24)
    rgb, raw = TriplaneDecoder(8)(aggregate(features))
    assert rgb.shape == (2, 10, 3) and raw.shape == (2, 10)
    assert (rgb >= -0.001).all() and (rgb <= 1.001).all()
    assert (density_activation(raw) >= 0).all() and (density_activation(raw, "exp") > 0).all()


def test_sampling_gradients_match_finite_differences():
    planes = torch.randn(1, 3, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    points = (torch.rand(1, 6, 3, dtype=torch.float64) - 0.5).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, x: sample_triplane(p, x, (-0.7, 0.7)), (planes, points), eps=1e-6, atol=1e-4)


def test_fused_aggregation_matches_sampling_then_aggregating():
    planes, points = torch.randn(2, 3, 4, 8, 8), torch.rand(2, 50, 3) - 0.5
    for mode in ("sum", "concat"):
        assert torch.allclose(triplane_features(planes, points, mode=mode), aggregate(sample_triplane(planes, points), mode), atol=1e-6)
