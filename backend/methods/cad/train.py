"""Adversarial distillation of the 3D generator from the cached prior (paper Sec. 3.2, supplement C).

Stage 1: G renders the raw 64² feature image and the 2D upsampler lifts it to the output
resolution; the dual discriminator sees both (output ⊕ raw, upsampled), conditioned on the
camera; ADA on; lazy R1. Stage 2 (consistency training): the 3D upsampler doubles the
triplanes and the output is volume-rendered on random patches, which are pulled towards the
same patch of the stop-gradient 2D branch by LPIPS (Eq. 10, whose gradient reaches only the 3D
upsampler) and judged by a small pose-conditioned patch discriminator that also sees where its
patch lies; ADA off. Both stages add EG3D's density regularisation against floaters. Data-parallel over processes through ``torch.distributed``:
every rank draws its own share of the batch and the gradients are averaged across ranks
before each optimiser step (StyleGAN2-ADA's scheme, which suits its several losses per step).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ...core.cameras import spherical_to_c2w
from ...engine.checkpoint import TrainingState
from ...engine.distributed import average_gradients
from ...engine.loop import Cadence, Outcome, Reporter, Stage, Task, run
from ...engine.preview import preview_grid
from .augment import adjust_probability, augment
from .config import CADConfig, DiscriminatorConfig
from .losses import discriminator_loss, generator_loss, r1_penalty
from .networks import CADGenerator, Discriminator

STAGES = ("stage 1", "stage 2")
CHECKPOINT = "checkpoint.safetensors"
"""The training checkpoint in the job's (or ``distill3d train``'s) work folder."""
PREVIEW_POSE = (15.0, 180.0)
"""(elevation°, azimuth°) of the preview grid: the reference pose."""


@dataclass
class PriorData:
    """The pruned prior samples the discriminator learns from."""

    images: torch.Tensor
    """(M, 3, S, S) in [0, 1], S the generator's image resolution."""
    poses: torch.Tensor
    """(M, 3) (elevation°, azimuth°, radius)."""

    def c2w(self, index: torch.Tensor) -> torch.Tensor:
        """Cameras (B, 4, 4) of samples ``index`` (B,)."""
        pose = self.poses[index]
        return spherical_to_c2w(pose[:, 0], pose[:, 1], pose[:, 2])


def stage_of(step: int, config: CADConfig) -> int:
    """0 while step < stage1_steps, 1 after (the stage switch)."""
    return 0 if step < config.train.stage1_steps else 1


def total_steps(config: CADConfig) -> int:
    return config.train.stage1_steps + config.train.stage2_steps


def lazy_adam(parameters, lr: float, betas: tuple[float, float], interval: int) -> torch.optim.Adam:
    """Adam with StyleGAN2's correction for a regulariser run every ``interval`` steps: lr·c, β^c, c = interval / (interval + 1)."""
    c = interval / (interval + 1)
    return torch.optim.Adam(parameters, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=1e-8)


def dual_input(image: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """EG3D's dual-discriminator input (B, 6, S, S): the image and the raw render bilinearly upsampled to its size."""
    return torch.cat([image, F.interpolate(raw, size=image.shape[-2:], mode="bilinear", align_corners=False)], dim=1)


def with_position(patch: torch.Tensor, window: tuple[int, int, int], side: int) -> torch.Tensor:
    """The patch discriminator's input (B, 5, P, P): ``patch`` (B, 3, P, P) cut at ``window`` (top, left, P) from a
    ``side``² image, with two channels of its pixels' image coordinates (y, x) in [−1, 1]."""
    top, left, size = window
    coordinates = (torch.arange(size, device=patch.device, dtype=patch.dtype) + 0.5) / side * 2 - 1
    y = (coordinates + 2 * top / side)[:, None].expand(size, size)
    x = (coordinates + 2 * left / side)[None, :].expand(size, size)
    return torch.cat([patch, torch.stack([y, x])[None].expand(patch.shape[0], -1, -1, -1)], dim=1)


def patch_discriminator_config(config: CADConfig) -> DiscriminatorConfig:
    """The patch discriminator's widths: the discriminator's channel budget and cap scaled by ``patch_width``."""
    d, width = config.discriminator, config.train.patch_width
    return replace(d, channel_base=max(1, round(d.channel_base * width)), channel_max=max(1, round(d.channel_max * width)))


def density_regularisation(model: CADGenerator, planes: torch.Tensor, config: CADConfig, generator: torch.Generator, points: int = 1000) -> torch.Tensor:
    """EG3D's density regulariser: mean |σ(x) − σ(x + δ)| over ``points`` random points x per sample, uniform in the box,
    δ ~ N(0, (density_reg_distance · box side)²); ``planes`` (B, 3, C, R, R)."""
    box = config.generator.box
    x = (torch.rand(planes.shape[0], points, 3, generator=generator) * 2 - 1).to(planes.device) * box
    delta = (torch.randn(x.shape, generator=generator) * config.train.density_reg_distance * 2 * box).to(planes.device)
    field = model.field(planes)
    return (field(x.reshape(-1, 3))[1] - field((x + delta).reshape(-1, 3))[1]).abs().mean()


def real_raw(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """A real image's stand-in for the raw render (B, 3, r, r): area-downsampled to the raw resolution."""
    return F.interpolate(images, size=(resolution, resolution), mode="area")


class Trainer(Task):
    """G, D (and stage 2's patch D), their optimisers, the generator EMA and ADA's p; one :meth:`step` at a time
    (the engine's loop drives it: :func:`train`)."""

    def __init__(self, config: CADConfig, data: PriorData, device: str, seed: int) -> None:
        self.config, self.device = config, torch.device(device)
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        torch.manual_seed(seed)  # identical initial weights on every rank
        c, t = config.generator, config.train
        self.data = PriorData(data.images.to(self.device), data.poses.to(self.device))
        self.G = CADGenerator(c, with_3d_upsampler=t.stage2_steps > 0).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = Discriminator(c.image_resolution, 6, config.discriminator).to(self.device)
        self.D_patch = Discriminator(t.patch_size, 5, patch_discriminator_config(config)).to(self.device) if t.stage2_steps else None
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=t.g_lr, betas=t.betas, eps=1e-8)
        d_params = list(self.D.parameters()) + (list(self.D_patch.parameters()) if self.D_patch else [])
        self.opt_D = lazy_adam(d_params, t.d_lr, t.betas, t.r1_interval)
        self.lpips = None
        self.step_index = 0
        self.ada_p = 0.0
        self.real_signs: list[float] = []
        self.random = torch.Generator().manual_seed(seed * 7919 + self.rank)
        self.preview_latents = torch.randn(t.preview_latents, c.z_dim, generator=torch.Generator().manual_seed(0))

    # ------------------------------------------------------------------ one step

    def _batch(self) -> int:
        return max(1, self.config.train.batch // self.world)

    def _draw(self, count: int) -> torch.Tensor:
        return torch.randint(self.data.images.shape[0], (count,), generator=self.random).to(self.device)

    def _latents(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.config.generator.z_dim, generator=self.random).to(self.device)

    def _window(self) -> tuple[int, int, int]:
        size, side = self.config.train.patch_size, self.config.generator.image_resolution
        top, left = (int(v) for v in torch.randint(side - size + 1, (2,), generator=self.random))
        return top, left, size

    def step(self, step: int | None = None) -> dict[str, float]:
        """One generator and one discriminator update (step :attr:`step_index`; ``step``, when given, must be it);
        returns the losses."""
        if step is not None and step != self.step_index:
            raise ValueError(f"the trainer is at step {self.step_index}, not {step}")
        config, t = self.config, self.config.train
        stage = stage_of(self.step_index, config)
        p = self.ada_p if stage == 0 else 0.0  # ADA off in stage 2 (supplement C)
        batch = self._batch()
        losses: dict[str, float] = {}

        # generator
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        if self.D_patch:
            self.D_patch.requires_grad_(False)
        gen_c2w = self.data.c2w(self._draw(batch))
        ws = self.G.ws(self._latents(batch), track=True)
        planes = self.G.planes(ws)
        raw, image = self.G.image_2d(ws, gen_c2w, planes)
        loss_G = generator_loss(self.D(augment(dual_input(image, raw), p, self.random), gen_c2w))
        losses["G"] = float(loss_G.detach())
        if t.density_reg > 0 and self.step_index % t.density_reg_every == 0:
            density = density_regularisation(self.G, planes, config, self.random)
            loss_G = loss_G + t.density_reg * t.density_reg_every * density
            losses["density"] = float(density.detach())
        perceptual = None
        if stage == 1:
            window = self._window()
            top, left, size = window
            patch = self.G.render(self.G.upsample(planes, ws), gen_c2w, config.generator.image_resolution, window).rgb
            target = image[:, :, top : top + size, left : left + size].detach()
            perceptual = self._lpips()(patch * 2 - 1, target * 2 - 1).mean()
            patch_adv = generator_loss(self.D_patch(with_position(patch, window, config.generator.image_resolution), gen_c2w))
            loss_G = loss_G + patch_adv
            losses.update(lpips=float(perceptual.detach()), G_patch=float(patch_adv.detach()))
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward(retain_graph=perceptual is not None)
        if perceptual is not None:  # Eq. 10 optimises the 3D upsampler (paper Sec. 3.2): LPIPS reaches nothing else
            (t.lpips_weight * perceptual).backward(inputs=list(self.G.upsampler_3d.parameters()))
        average_gradients(self.G.parameters())
        self.opt_G.step()

        # discriminator
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        if self.D_patch:
            self.D_patch.requires_grad_(True)
        index = self._draw(batch)
        real, real_c2w = self.data.images[index], self.data.c2w(index)
        real_input = dual_input(real, real_raw(real, config.generator.render_resolution))
        real_scores = self.D(augment(real_input, p, self.random), real_c2w)
        fake_scores = self.D(augment(dual_input(image.detach(), raw.detach()), p, self.random), gen_c2w)
        loss_D = discriminator_loss(real_scores, fake_scores)
        losses["D"] = float(loss_D.detach())
        self.real_signs.append(float(real_scores.detach().sign().mean()))
        if stage == 1:
            side = config.generator.image_resolution
            real_window = self._window()
            top, left, size = real_window
            real_patch = real[:, :, top : top + size, left : left + size]
            loss_D = loss_D + discriminator_loss(
                self.D_patch(with_position(real_patch, real_window, side), real_c2w), self.D_patch(with_position(patch.detach(), window, side), gen_c2w),
            )  # fmt: skip
        if self.step_index % t.r1_interval == 0 and t.r1_gamma > 0:
            r1 = r1_penalty(lambda x: self.D(augment(x, p, self.random), real_c2w), real_input, t.r1_gamma, t.r1_interval)
            if stage == 1:
                r1 = r1 + r1_penalty(lambda x: self.D_patch(with_position(x, real_window, side), real_c2w), real_patch, t.r1_gamma, t.r1_interval)
            loss_D = loss_D + r1
            losses["R1"] = float(r1.detach())
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        average_gradients([p for m in [self.D] + ([self.D_patch] if self.D_patch else []) for p in m.parameters()])
        self.opt_D.step()

        self._update_ada(stage)
        self._update_ema()
        self.step_index += 1
        losses["ada_p"] = self.ada_p
        return losses

    def _lpips(self) -> torch.nn.Module:
        if self.lpips is None:
            from ...teachers.perceptual import load_lpips

            self.lpips = load_lpips(self.device)
        return self.lpips

    def _update_ada(self, stage: int) -> None:
        t = self.config.train
        if stage != 0 or len(self.real_signs) < t.ada_interval:
            return
        signs = torch.tensor(sum(self.real_signs) / len(self.real_signs), device=self.device)
        if self.world > 1:
            dist.all_reduce(signs)
            signs /= self.world
        images = len(self.real_signs) * self._batch() * self.world
        self.ada_p = adjust_probability(self.ada_p, float(signs), t.ada_target, images, t.ada_kimg)
        self.real_signs.clear()

    def _update_ema(self) -> None:
        beta = 0.5 ** (self._batch() * self.world / (self.config.train.ema_kimg * 1000.0))
        with torch.no_grad():
            for ema, live in zip(self.G_ema.parameters(), self.G.parameters()):
                ema.copy_(live.detach().lerp(ema, beta))
            for ema, live in zip(self.G_ema.buffers(), self.G.buffers()):
                ema.copy_(live)

    # ------------------------------------------------------------------ previews and checkpoints

    @torch.no_grad()
    def samples(self, latents: torch.Tensor) -> list[torch.Tensor]:
        """The EMA generator's images (3, S, S) in [0, 1] of ``latents`` (N, z_dim) at the reference pose: in stage 2 the 3D
        branch rendered one latent at a time at S = ``train.preview_resolution``; in stage 1 the 2D branch at
        S = image_resolution."""
        elevation, azimuth = PREVIEW_POSE
        n = latents.shape[0]
        c2w = spherical_to_c2w(torch.full((n,), elevation), torch.full((n,), azimuth), torch.full((n,), self.config.generator.radius)).to(self.device)
        ws = self.G_ema.ws(latents.to(self.device), truncation=0.7)
        if stage_of(max(self.step_index - 1, 0), self.config) == 0:  # the stage of the step just taken
            return list(self.G_ema.image_2d(ws, c2w)[1])
        planes, size = self.G_ema.planes(ws, upsampled=True), self.config.train.preview_resolution
        return [self.G_ema.render(planes[i : i + 1], c2w[i : i + 1], size, perturb=False).rgb[0] for i in range(n)]

    def preview(self, done: int) -> np.ndarray:
        """:meth:`samples` of the fixed preview latents in a near-square :func:`~backend.engine.preview.preview_grid`."""
        return preview_grid(self.samples(self.preview_latents))

    def state(self) -> TrainingState:
        modules = {"G": self.G, "G_ema": self.G_ema, "D": self.D, **({"D_patch": self.D_patch} if self.D_patch else {})}
        return TrainingState(
            modules=modules, optimizers={"G": self.opt_G, "D": self.opt_D}, generators={"random": self.random},
            values={"step": self.step_index, "ada_p": self.ada_p, "real_signs": list(self.real_signs)},
        )

    def restored(self, values: Mapping[str, Any]) -> None:
        self.step_index, self.ada_p = int(values["step"]), float(values["ada_p"])
        self.real_signs = [float(v) for v in values["real_signs"]]


def train(trainer: Trainer, checkpoint: Path | None, reporter: Reporter) -> Outcome:
    """Run ``trainer`` to the config's total steps on the engine, resuming from ``checkpoint``: progress per stage
    through ``reporter`` (a cancel there stops within a step; the last checkpoint stays valid), previews of fixed
    latents every ``preview_every`` steps and checkpoints every ``checkpoint_every`` (rank 0 only)."""
    t = trainer.config.train
    stages = [Stage(name, steps) for name, steps in zip(STAGES, (t.stage1_steps, t.stage2_steps))]
    return run(trainer, stages, Cadence(t.preview_every, t.checkpoint_every), reporter, checkpoint, label="CAD training",
               main_process=trainer.rank == 0)  # fmt: skip
