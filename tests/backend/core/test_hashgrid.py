import pytest
import torch

from backend.core.hashgrid import HashGridConfig, HashGridEncoding, encode_level, hash_encode

SMALL = HashGridConfig(levels=6, features_per_level=2, log2_table_size=10, base_resolution=4, max_resolution=64)


def test_resolutions_grow_geometrically_from_base_to_max():
    assert SMALL.resolutions == [4, 6, 12, 21, 36, 64]
    assert SMALL.resolutions[-1] == 64 and SMALL.output_dim == 12
    default = HashGridConfig()
    assert default.per_level_scale == pytest.approx(1.3819, abs=1e-4) and default.resolutions[-1] == 2048


def test_dense_level_reproduces_table_entries_at_grid_vertices():
    resolution, size = 4, 1 << 10
    table = torch.randn(size, 2)
    i, j, k = 1, 3, 2
    x = torch.tensor([[i, j, k]], dtype=torch.float32) / resolution
    expected = table[i + j * (resolution + 1) + k * (resolution + 1) ** 2]
    assert torch.allclose(encode_level(x, table, resolution)[0], expected, atol=1e-6)


def test_hashed_level_is_continuous_and_trilinear_between_vertices():
    table = torch.randn(1 << 6, 3)  # 6 bits: a resolution of 16 must hash
    resolution = 16
    a = torch.tensor([[3, 4, 5]], dtype=torch.float32) / resolution
    b = torch.tensor([[4, 4, 5]], dtype=torch.float32) / resolution
    midpoint = (a + b) / 2
    fa, fb, fm = (encode_level(p, table, resolution) for p in (a, b, midpoint))
    assert torch.allclose(fm, (fa + fb) / 2, atol=1e-5)


def test_masked_levels_are_zero_and_gradients_match_finite_differences():
    config = HashGridConfig(levels=3, features_per_level=2, log2_table_size=6, base_resolution=2, max_resolution=8)
    tables = torch.randn(3, 1 << 6, 2, dtype=torch.float64, requires_grad=True)
    x = (torch.rand(5, 3, dtype=torch.float64) * 0.9 + 0.05).requires_grad_(True)
    masked = hash_encode(x, tables, config.resolutions, torch.tensor([1.0, 0.0, 1.0]))
    assert torch.count_nonzero(masked[:, 2:4]) == 0 and torch.count_nonzero(masked[:, :2]) > 0
    assert torch.autograd.gradcheck(lambda t, p: hash_encode(p, t, config.resolutions), (tables, x), eps=1e-6, atol=1e-4)


def test_module_encodes_world_points_and_learns():
    torch.manual_seed(0)
    encoding = HashGridEncoding(SMALL, bounds=(-1.0, 1.0), use_tcnn=False)
    head = torch.nn.Linear(SMALL.output_dim, 1)
    optimizer = torch.optim.Adam(list(encoding.parameters()) + list(head.parameters()), lr=1e-2)
    points = torch.rand(2048, 3) * 2 - 1
    target = (points.norm(dim=-1, keepdim=True) < 0.6).float()
    first = None
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(head(encoding(points)), target)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.2 * first


@pytest.mark.gpu
def test_tiny_cuda_nn_backend_matches_the_interface():
    pytest.importorskip("tinycudann")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    encoding = HashGridEncoding(SMALL, use_tcnn=True).cuda()
    out = encoding(torch.rand(100, 3, device="cuda") * 2 - 1, (torch.arange(SMALL.levels) < 4).float().cuda())
    assert out.shape == (100, SMALL.output_dim) and torch.count_nonzero(out[:, 8:]) == 0
