import io

import pytest
import torch
from PIL import Image

from backend.engine.checkpoint import saved_step
from backend.methods.cad.train import PriorData, Trainer, density_regularisation, lazy_adam, stage_of, train, with_position
from backend.methods.progress import JobCancelled, ProgressReporter


def data(side: int, count: int = 12) -> PriorData:
    random = torch.Generator().manual_seed(0)
    poses = torch.stack([torch.rand(count, generator=random) * 40, torch.rand(count, generator=random) * 360 - 180, torch.full((count,), 2.0)], -1)
    return PriorData(torch.rand(count, 3, side, side, generator=random), poses)


def small(config, **train):
    from backend.methods.configs import apply_overrides

    return apply_overrides(config, {"train.batch": 4, **{f"train.{k}": v for k, v in train.items()}})


def test_the_stage_switch_happens_after_stage1_steps(tiny_config):
    config = small(tiny_config, stage1_steps=5, stage2_steps=3)
    assert [stage_of(step, config) for step in range(8)] == [0] * 5 + [1] * 3


def test_stage_2_adds_lpips_and_the_patch_discriminator_and_turns_ada_off(tiny_config):
    config = small(tiny_config, stage1_steps=2, stage2_steps=2, ada_interval=1, ada_kimg=0.001)
    trainer = Trainer(config, data(config.generator.image_resolution), "cpu", 0)
    trainer.ada_p = 0.5
    first = trainer.step()
    assert "lpips" not in first and trainer.ada_p != 0.5, "stage 1 adapts p"
    trainer.step()
    p = trainer.ada_p
    second = trainer.step()
    assert {"lpips", "G_patch"} <= second.keys() and trainer.ada_p == p, "stage 2 trains the 3D branch and leaves ADA off"


def stage_2_step(config):
    """A trainer of ``config`` taken to its first stage-2 step; returns its generator's parameters by name after that step."""
    trainer = Trainer(config, data(config.generator.image_resolution), "cpu", 0)
    trainer.step_index = config.train.stage1_steps
    trainer.step()
    return {name: p.detach().clone() for name, p in trainer.G.named_parameters()}


def test_lpips_trains_the_3d_upsampler_only(tiny_config):
    """Eq. 10 optimises the 3D upsampler: with or without LPIPS, every other parameter takes the same step."""
    without = stage_2_step(small(tiny_config, stage1_steps=1, stage2_steps=1, lpips_weight=0.0))
    strong = stage_2_step(small(tiny_config, stage1_steps=1, stage2_steps=1, lpips_weight=100.0))
    upsampler = [name for name in without if name.startswith("upsampler_3d.")]
    assert upsampler and any(not torch.allclose(without[name], strong[name]) for name in upsampler)
    assert all(torch.equal(without[name], strong[name]) for name in without if name not in upsampler), "LPIPS leaked"


def test_the_patch_discriminator_is_small_and_sees_where_its_patch_lies(tiny_config):
    config = small(tiny_config, stage1_steps=1, stage2_steps=1)
    trainer = Trainer(config, data(config.generator.image_resolution), "cpu", 0)
    assert trainer.D_patch.from_rgb.weight.shape[1] == 5, "RGB and two coordinate channels"
    assert sum(p.numel() for p in trainer.D_patch.parameters()) < sum(p.numel() for p in trainer.D.parameters()) / 4
    small_patch = torch.rand(2, 3, 4, 4)
    corner = with_position(small_patch, (0, 0, 4), 16)
    assert torch.equal(corner[:, :3], small_patch) and torch.allclose(corner[0, 3, :, 0], torch.tensor([-0.9375, -0.8125, -0.6875, -0.5625]))
    assert torch.allclose(corner[0, 4, 0], corner[0, 3, :, 0]), "x runs along the columns as y along the rows"
    assert torch.allclose(with_position(small_patch, (12, 12, 4), 16)[0, 3:, -1, -1], torch.tensor([0.9375, 0.9375]))
    size, side = config.train.patch_size, config.generator.image_resolution
    patch = torch.rand(2, 3, size, size)
    top_left, bottom_right = with_position(patch, (0, 0, size), side), with_position(patch, (side - size, side - size, size), side)
    scores = trainer.D_patch(torch.cat([top_left, bottom_right]), torch.eye(4).expand(4, 4, 4))
    assert not torch.allclose(scores[:2], scores[2:]), "the same pixels at another place score differently"


def test_density_regularisation_penalises_rough_density_every_few_steps(tiny_config):
    config = small(tiny_config, stage1_steps=8, stage2_steps=0, density_reg=0.25, density_reg_every=4)  # the tiny preset turns it off
    trainer = Trainer(config, data(config.generator.image_resolution), "cpu", 0)
    assert ["density" in trainer.step() for _ in range(8)] == [True, False, False, False] * 2
    planes = trainer.G.planes(trainer.G.ws(torch.randn(2, config.generator.z_dim))).detach().requires_grad_(True)
    loss = density_regularisation(trainer.G, planes, config, torch.Generator().manual_seed(0))
    loss.backward()
    assert float(loss.detach()) > 0 and planes.grad.abs().sum() > 0
    flat = torch.zeros_like(planes)
    assert float(density_regularisation(trainer.G, flat, config, torch.Generator().manual_seed(0))) == 0.0, "constant planes: constant σ"
    off = small(tiny_config, stage1_steps=2, stage2_steps=0, density_reg=0.0)
    assert "density" not in Trainer(off, data(off.generator.image_resolution), "cpu", 0).step()


def test_lazy_r1_runs_every_r1_interval_steps(tiny_config):
    config = small(tiny_config, stage1_steps=5, stage2_steps=0, r1_interval=2)
    trainer = Trainer(config, data(config.generator.image_resolution), "cpu", 0)
    assert ["R1" in trainer.step() for _ in range(4)] == [True, False, True, False]
    adam = lazy_adam([torch.nn.Parameter(torch.zeros(1))], 0.002, (0.0, 0.99), 16)
    assert adam.param_groups[0]["lr"] == pytest.approx(0.002 * 16 / 17) and adam.param_groups[0]["betas"][1] == pytest.approx(0.99 ** (16 / 17))


def test_the_ema_follows_the_generator_slowly(tiny_config):
    config = small(tiny_config, stage1_steps=3, stage2_steps=0)
    trainer = Trainer(config, data(config.generator.image_resolution), "cpu", 0)
    before = [p.detach().clone() for p in trainer.G_ema.parameters()]
    trainer.step()
    moved = sum(float((p - b).abs().sum()) for p, b in zip(trainer.G_ema.parameters(), before))
    live = sum(float((p - b).abs().sum()) for p, b in zip(trainer.G.parameters(), before))
    assert 0 < moved < live


def test_an_interrupted_training_resumes_to_the_same_generator(tiny_config, tmp_path):
    config = small(tiny_config, stage1_steps=4, stage2_steps=2, checkpoint_every=2, preview_every=3, ada_interval=2)
    images = data(config.generator.image_resolution)
    previews, progress = [], []

    def recorder(stop_after=None):
        """A reporter recording previews; with ``stop_after``, a cancel at the first call after that (stage, step) was reported."""
        progress.clear()

        def emit(kind, data, payload):
            if kind == "preview":
                previews.append(payload)
            elif kind == "progress":
                progress.append((data["stage"], data["step"]))

        return ProgressReporter(emit, lambda: stop_after in progress, min_interval_s=0.0)

    straight = Trainer(config, images, "cpu", 0)
    train(straight, tmp_path / "a.safetensors", recorder())
    assert len(previews) == 2, "previews at step 3 and at the end"
    assert [Image.open(io.BytesIO(payload)).size for payload in previews] == [(512, 512)] * 2, "4 samples of 256² each, 2×2"
    interrupted = Trainer(config, images, "cpu", 0)
    with pytest.raises(JobCancelled):
        train(interrupted, tmp_path / "b.safetensors", recorder(stop_after=("stage 2", 0)))  # cancelled before step 5
    assert saved_step(tmp_path / "b.safetensors") == 4, "the checkpoint of step 4 stays"
    resumed = Trainer(config, images, "cpu", 0)
    outcome = train(resumed, tmp_path / "b.safetensors", recorder())
    assert outcome.resumed_at == 4
    assert resumed.step_index == 6
    for a, b in zip(straight.G_ema.state_dict().values(), resumed.G_ema.state_dict().values()):
        assert torch.allclose(a, b, rtol=1e-2, atol=1e-3), "the same up to float rounding of threaded kernels"


def test_previews_show_every_sample_at_256_pixels_and_stage_2_renders_at_the_preview_resolution(tiny_config):
    config = small(tiny_config, stage1_steps=1, stage2_steps=1, preview_resolution=48)
    trainer = Trainer(config, data(config.generator.image_resolution), "cpu", 0)
    assert [tuple(image.shape) for image in trainer.samples(trainer.preview_latents)] == [(3, 32, 32)] * 4, "stage 1: the 2D branch"
    stage_1 = trainer.preview(0)
    trainer.step_index = 2  # the stage-2 step is done
    assert [tuple(image.shape) for image in trainer.samples(trainer.preview_latents)] == [(3, 48, 48)] * 4, "not image_resolution"
    stage_2 = trainer.preview(2)
    assert stage_1.shape == stage_2.shape == (512, 512, 3), "4 samples, each enlarged to 256², in a 2×2 grid"
