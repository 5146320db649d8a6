import torch

from backend.core.cameras import spherical_to_c2w
from backend.methods.cad.networks import CADGenerator, Discriminator, minibatch_std


def cameras(n: int) -> torch.Tensor:
    return spherical_to_c2w(torch.linspace(-10, 40, n), torch.linspace(-180, 170, n), torch.full((n,), 2.0))


def test_generator_shapes_from_z_to_triplanes_to_both_branches(tiny_config):
    g = tiny_config.generator
    generator = CADGenerator(g)
    ws = generator.ws(torch.randn(3, g.z_dim))
    assert ws.shape == (3, generator.num_ws, g.w_dim)
    planes = generator.planes(ws)
    assert planes.shape == (3, 3, g.triplane_channels, g.triplane_resolution, g.triplane_resolution)
    assert generator.planes(ws, upsampled=True).shape[-1] == 2 * g.triplane_resolution
    raw, image = generator.image_2d(ws, cameras(3), planes)
    assert raw.shape == (3, 3, g.render_resolution, g.render_resolution) and image.shape == (3, 3, g.image_resolution, g.image_resolution)


def test_a_rendered_window_is_that_crop_of_the_full_render(tiny_config):
    generator = CADGenerator(tiny_config.generator)
    planes = generator.planes(generator.ws(torch.randn(2, tiny_config.generator.z_dim)))
    full = generator.render(planes, cameras(2), 24, perturb=False).features
    window = generator.render(planes, cameras(2), 24, window=(5, 9, 8), perturb=False).features
    assert torch.allclose(window, full[:, :, 5:13, 9:17], atol=1e-5)


def test_truncation_zero_gives_the_tracked_mean_w(tiny_config):
    generator = CADGenerator(tiny_config.generator)
    for _ in range(3):
        generator.mapping(torch.randn(16, tiny_config.generator.z_dim), track=True)
    assert generator.mapping.w_avg.abs().sum() > 0
    w = generator.mapping(torch.randn(4, tiny_config.generator.z_dim), truncation=0.0)
    assert torch.allclose(w, generator.mapping.w_avg.expand_as(w))


def test_the_discriminator_depends_on_the_camera_pose(tiny_config):
    size = tiny_config.generator.image_resolution
    discriminator = Discriminator(size, 6, tiny_config.discriminator)
    images = torch.rand(4, 6, size, size)
    poses = cameras(4)
    scores = discriminator(images, poses)
    assert scores.shape == (4,)
    assert not torch.allclose(scores, discriminator(images, poses.flip(0)))


def test_minibatch_std_appends_one_channel_of_the_group_spread():
    x = torch.randn(8, 5, 4, 4)
    out = minibatch_std(x, 4)
    assert out.shape == (8, 6, 4, 4) and torch.equal(out[:, :5], x)
    same = minibatch_std(torch.ones(8, 5, 4, 4), 4)
    assert same[:, 5].abs().max() < 1e-3
