"""Progressive rendering distillation: the student's four steps, each decoded, rendered and guided, on the engine loop.

One optimiser step (PRD's Sec. 3, reference training loop):

1. draw prompts, their text states, and 4 cameras per prompt (elevation U[0°, 30°], azimuths stratified over 360° with
   a random offset, distance U[0.8, 1.0] / tan(fovy/2));
2. for k = 1 … 4 at the student's time-steps (999, 749, 499, 249): noise the previous step's x̂₀ to that time-step with
   fresh noise (pure noise at k = 1), predict x̂₀, decode the triplanes, render every view both ways (volume and mesh),
   add each teacher's ASD loss (and the volume path's eikonal term), backpropagate loss / 4, and detach x̂₀;
3. one Adan step on the adapters and MLPs.

Checkpoints hold only what trains (adapters, MLPs), the optimiser and the random stream, so a run resumes exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ...core.cameras import spherical_to_c2w
from ...engine import checkpoint as ckpt
from ...engine.adan import Adan
from ...engine.distributed import average_gradients
from ...engine.loop import Cadence, NonFiniteLoss, Reporter, Stage, Task, run
from ...engine.preview import preview_grid
from ...teachers import schedule as S
from .config import PRDConfig, TrainConfig
from .guidance import Guide, TextWorld, ramp, teacher_timesteps
from .render import eikonal_loss, render_mesh, render_volume
from .student import PLANE_COUNT, PRDStudent
from .triplane import Triplanes

CHECKPOINT = "prd.ckpt.safetensors"
PREVIEW_PROMPT_VIEWS = 4
"""Views of the preview grid."""


def sample_poses(prompts: int, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """(prompts·views, 3) camera poses (elevation°, azimuth°, radius), ``views`` per prompt with stratified azimuths."""
    views = config.views
    elevation = config.elevation_range[0] + (config.elevation_range[1] - config.elevation_range[0]) * torch.rand(prompts, views, generator=generator)
    offset = 360.0 * torch.rand(prompts, 1, generator=generator)
    azimuth = (offset + 360.0 * torch.arange(views) / views) % 360.0
    distance = config.distance_range[0] + (config.distance_range[1] - config.distance_range[0]) * torch.rand(prompts, views, generator=generator)
    radius = distance / math.tan(math.radians(config.fov_deg / 2))
    return torch.stack([elevation, azimuth, radius], -1).reshape(-1, 3)


def one(triplanes: Triplanes, index: int) -> Triplanes:
    """The triplanes of object ``index`` as a batch of one."""
    return Triplanes(triplanes.geometry[index : index + 1], triplanes.texture[index : index + 1])


class TrainableParts(nn.Module):
    """The student's adapters and MLPs as one module (what checkpoints save): names with '/' for '.'."""

    def __init__(self, student: PRDStudent) -> None:
        super().__init__()
        self.parts = nn.ModuleDict({name.replace(".", "/"): module for name, module in student.adapters} | {"head": student.head})


def make_guides(config: PRDConfig, device: str, step: int, world: TextWorld | None) -> list[Guide]:
    """The teachers of ``config.train.teachers`` (real ones loaded through the registry); MVDream's cfg is set per step."""
    train = config.train
    guides = []
    for name in train.teachers:
        if name == "synthetic":
            guides.append(Guide(world or TextWorld(config.render.background), 1.0, True, train.asd_epsilon, name))
        elif name == "stable_diffusion":
            from ...teachers import stable_diffusion

            guides.append(Guide(stable_diffusion.load(device=device), train.sd_cfg, False, train.asd_epsilon, name))
        elif name == "mvdream":
            from ...teachers import mvdream

            guides.append(Guide(mvdream.load(device=device), train.mvdream_cfg[0], True, train.asd_epsilon, name))
    return guides


@dataclass
class Corpus:
    """The prompts a run draws from."""

    prompts: tuple[str, ...]

    @classmethod
    def from_config(cls, source: str, seed: int = 0) -> "Corpus":
        """'grammar' ('grammar-singles'): the text world's training split (its singles); otherwise a text file, one prompt
        per line."""
        if source in ("grammar", "grammar-singles"):
            from .world import split

            return cls(split(seed, stacks=source == "grammar").train)
        lines = tuple(line.strip() for line in Path(source).read_text(encoding="utf-8").splitlines() if line.strip())
        if not lines:
            raise ValueError(f"{source}: no prompts")
        return cls(lines)

    def draw(self, count: int, generator: torch.Generator) -> list[str]:
        return [self.prompts[int(i)] for i in torch.randint(len(self.prompts), (count,), generator=generator)]


class PRDTraining(Task):
    """PRD's distillation as a :class:`~backend.engine.loop.Task`."""

    def __init__(self, student: PRDStudent, prompts, corpus: Corpus, config: PRDConfig, device: str, seed: int,
                 guides: list[Guide] | None = None) -> None:  # fmt: skip
        self.student, self.encode_prompts, self.corpus, self.config, self.device = student, prompts, corpus, config, device
        self.generator = torch.Generator().manual_seed(seed)
        self.world = TextWorld(config.render.background)
        self.guides = guides
        self.parts = TrainableParts(student)
        train = config.train
        self.optimizer = Adan(student.trainable_parameters(), lr=train.lr, betas=train.betas, eps=train.eps)
        self.preview_prompt = corpus.prompts[0]

    def state(self) -> ckpt.TrainingState:
        return ckpt.TrainingState(modules={"student": self.parts}, optimizers={"adan": self.optimizer}, generators={"rng": self.generator})

    def prepare(self, start: int) -> None:
        if self.guides is None:
            self.guides = make_guides(self.config, self.device, start, self.world)

    def begin(self, step: int) -> str:
        train = self.config.train
        for guide in self.guides:
            if guide.name == "mvdream":
                guide.guidance = ramp(*train.mvdream_cfg, step, train.anneal_steps)
        return f"t_min {ramp(train.t_min_start, train.t_min_end, step, train.anneal_steps):.2f}"

    def renders(self, triplanes: Triplanes, index: int, c2w: torch.Tensor, step: int, background: torch.Tensor):
        """``(path, Rendered)`` of object ``index`` from ``c2w`` (V, 4, 4) over ``background`` (V,) for each render path."""
        render, train = self.config.render, self.config.train
        head, planes = self.student.head, one(triplanes, index)
        for path in render.paths:
            if path == "volume":
                yield path, render_volume(head, planes, c2w, train.fov_deg, render.volume_resolution, render.samples, render.importance_samples,
                                          render.inv_s, background, ramp(1.0, train.volume_rgb_gradient_end, step, train.anneal_steps),
                                          self.generator)  # fmt: skip
            else:
                yield path, render_mesh(head, planes, c2w, train.fov_deg, render.raster_resolution, render.mesh_grid, background,
                                        render.geometry_gradient)  # fmt: skip

    def step(self, step: int) -> dict[str, float]:
        train, student = self.config.train, self.student
        timesteps = tuple(self.config.inference.timesteps)
        prompts = self.corpus.draw(train.prompts_per_step, self.generator)
        text = self.encode_prompts(prompts)
        poses = sample_poses(len(prompts), train, self.generator)
        c2w = spherical_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2]).to(self.device)
        render = self.config.render
        background = torch.rand(len(poses), generator=self.generator) if render.random_background else torch.full((len(poses),), render.background)
        shape = (len(prompts) * PLANE_COUNT,) + student.latent_shape
        x = torch.randn(shape, generator=self.generator).to(self.device)
        eikonal_weight = ramp(train.eikonal_weight, 0.0, step, train.anneal_steps)
        self.optimizer.zero_grad(set_to_none=True)
        totals: dict[str, float] = {}
        for k, t in enumerate(timesteps):
            if k:
                alpha, sigma = student.schedule.coefficients(torch.full((shape[0],), t), x)
                x = S.add_noise(x, torch.randn(shape, generator=self.generator).to(self.device), alpha, sigma)
            x0 = student.x0(x, t, text)
            triplanes = student.decode(x0)
            loss = x0.new_zeros(())
            for index, prompt in enumerate(prompts):
                views = slice(index * train.views, (index + 1) * train.views)
                for path, rendered in self.renders(triplanes, index, c2w[views], step, background[views].to(self.device)):
                    t_teacher = teacher_timesteps(train.views, step, train.t_min_start, train.t_min_end, train.t_max, train.anneal_steps,
                                                  1000, self.generator)  # fmt: skip
                    for guide in self.guides:
                        term = guide.loss(rendered.rgb, prompt, poses[views], train.fov_deg, t_teacher, background[views], self.generator)
                        loss = loss + term
                        totals[path] = totals.get(path, 0.0) + float(term.detach()) / len(timesteps)
                if eikonal_weight > 0 and "volume" in self.config.render.paths:
                    eikonal = eikonal_loss(student.head, one(triplanes, index), train.eikonal_points, self.generator)
                    loss = loss + eikonal_weight * eikonal
                    totals["eikonal"] = totals.get("eikonal", 0.0) + float(eikonal.detach()) / len(timesteps)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLoss(value)
            (loss / len(timesteps)).backward()
            x = x0.detach()
        average_gradients(student.trainable_parameters())
        self.optimizer.step()
        return {"loss": sum(totals.values()), **totals}

    def preview(self, done: int) -> np.ndarray:
        """(2S, 2S, 3), S = :data:`~backend.engine.preview.PREVIEW_SIZE`: volume renders of the first training prompt from 4
        views around it, each rendered on its own at ``render.preview_resolution``² (whatever the training resolution), in a
        2×2 grid."""
        render, train = self.config.render, self.config.train
        with torch.no_grad():
            text = self.encode_prompts([self.preview_prompt])
            noise = torch.randn((PLANE_COUNT,) + self.student.latent_shape, generator=torch.Generator().manual_seed(0)).to(self.device)
            triplanes = self.student.decode(self.student.sample(noise, text, tuple(self.config.inference.timesteps)))
            poses = torch.tensor([[15.0, 90.0 * k, 1.6] for k in range(PREVIEW_PROMPT_VIEWS)])
            c2w = spherical_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2]).to(self.device)
            images = [render_volume(self.student.head, triplanes, c2w[i : i + 1], train.fov_deg, render.preview_resolution, render.samples, 0,
                                    render.inv_s, render.background).rgb[0] for i in range(len(c2w))]  # fmt: skip
        return preview_grid(images)


def distil(student: PRDStudent, prompts, config: PRDConfig, work: Path, reporter: Reporter, device: str, seed: int,
           rank: int = 0, guides: list[Guide] | None = None) -> None:  # fmt: skip
    """Train ``student`` per ``config.train`` (resuming from ``work``'s checkpoint); under data parallelism each ``rank``
    draws its own prompts and cameras (seed + rank), gradients are averaged, rank 0 writes checkpoints and previews."""
    corpus = Corpus.from_config(config.train.prompts)
    task = PRDTraining(student, prompts, corpus, config, device, seed + rank, guides)
    run(task, [Stage("distil", config.train.steps)], Cadence(config.train.preview_every, config.train.checkpoint_every), reporter,
        work / CHECKPOINT, label="PRD distillation", main_process=rank == 0)  # fmt: skip
