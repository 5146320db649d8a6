"""PRD's guidance: ASD with DMD-style weighting, from any teacher behind :class:`backend.teachers.base.Teacher`.

For a render z (in the teacher's space) at teacher time-step t, with x_t = α·z + σ·ε:

    grad = (x̂₀_second − x̂₀_cfg) / (mean|z − x̂₀_cfg| + ε),     loss = ½·Σ (z − sg(z − grad))²  (÷ views for multi-view)

where x̂₀_cfg is the teacher's guided estimate and x̂₀_second its estimate at t⁺ = t (the reference's r = 0 for SD and
MVDream) without guidance — so the gradient is the guidance direction, normalised per sample.

The synthetic text world's teacher has no unconditional branch (its x̂₀ is the named scene's render, coarsened by t), so
both estimates would coincide and the gradient vanish. Departure, for the synthetic teacher only: the second estimate
is the render itself, grad = (z − x̂₀) / (mean|z − x̂₀| + ε) — DMD's form with a perfect "fake" score — which pulls the
render towards the scene at every time-step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ...teachers import schedule as S
from ...teachers.base import Condition, Teacher, noise_like
from ...teachers.synthetic.render import SceneObject
from ...teachers.synthetic.teacher import SyntheticTeacher, SyntheticTeacherConfig
from ...teachers.synthetic.text import parse


def asd_gradient(z: torch.Tensor, x0_guided: torch.Tensor, x0_second: torch.Tensor, epsilon: float) -> torch.Tensor:
    """(x̂₀_second − x̂₀_guided) / (mean|z − x̂₀_guided| + ε), the mean per sample; all (B, C, H, W)."""
    scale = (z - x0_guided).abs().flatten(1).mean(1).reshape(-1, *([1] * (z.dim() - 1)))
    return (x0_second - x0_guided) / (scale + epsilon)


def asd_loss(z: torch.Tensor, gradient: torch.Tensor, divisor: float = 1.0) -> torch.Tensor:
    """½·Σ(z − sg(z − gradient))² / divisor: its gradient with respect to ``z`` is ``gradient`` / divisor."""
    return 0.5 * ((z - (z - gradient).detach()) ** 2).sum() / divisor


@dataclass
class Guide:
    """One teacher's guidance for a prompt's renders."""

    teacher: "Teacher | TextWorld"
    """The diffusion prior, or the text world (a synthetic teacher per prompt)."""
    guidance: float
    """Its cfg at this step."""
    multiview: bool
    """Whether it judges all views of a prompt together (MVDream, synthetic: loss ÷ views) or one random view (SD)."""
    epsilon: float = 0.1
    """The normaliser's ε."""
    name: str = ""
    """Which teacher (its config name), for schedules that concern one of them."""

    def loss(self, images: torch.Tensor, prompt: str, poses: torch.Tensor, fov_deg: float, t: torch.Tensor,
             background: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
        """ASD loss of one prompt's renders ``images`` (V, 3, H, W) in [0, 1] from ``poses`` (V, 3) at teacher time-steps
        ``t`` (V,) (single-view teachers use the first view only); ``background`` (V,): the renders' background greys, which
        the synthetic teacher's x̂₀ is drawn over too."""
        if not self.multiview:
            images, poses, t = images[:1], poses[:1], t[:1]
            background = None if background is None else background[:1]
        teacher = self.teacher.teacher(prompt) if isinstance(self.teacher, TextWorld) else self.teacher
        z = teacher.encode(images)
        condition = Condition(prompt=prompt, poses=poses, fov_deg=fov_deg, guidance_scale=self.guidance)
        with torch.no_grad():
            alpha, sigma = teacher.schedule.coefficients(t, z)
            x_t = S.add_noise(z.detach(), noise_like(z, generator), alpha, sigma)
            if isinstance(teacher, SyntheticTeacher):
                guided = teacher.encode(teacher.target_images(condition, t, *images.shape[-2:], background).to(z))
                second = z.detach()
            else:
                guided = teacher.predict(x_t, t.to(z.device), condition).x0
                second = teacher.predict(x_t, t.to(z.device), Condition(prompt=prompt, poses=poses, fov_deg=fov_deg, guidance_scale=1.0)).x0
            gradient = asd_gradient(z.detach(), guided, second, self.epsilon)
        return asd_loss(z, gradient, images.shape[0] if self.multiview else 1.0)


@dataclass
class TextWorld:
    """The synthetic teacher of each prompt (its scene, parsed from the grammar), made on first use."""

    background: float = 1.0
    """The teachers' background grey (the students' renders use the same)."""
    teachers: dict[str, SyntheticTeacher] = field(default_factory=dict)

    def teacher(self, prompt: str) -> SyntheticTeacher:
        if prompt not in self.teachers:
            self.teachers[prompt] = SyntheticTeacher(SceneObject(parse(prompt)), SyntheticTeacherConfig(background=self.background))
        return self.teachers[prompt]


def ramp(start: float, end: float, step: int, span: int) -> float:
    """``start`` moving linearly to ``end`` over ``span`` steps, then ``end``."""
    return start + (end - start) * min(step / span, 1.0)


def teacher_timesteps(count: int, step: int, t_min_start: float, t_min_end: float, t_max: float, span: int, steps: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """(count,) integer time-steps uniform in [t_min(step)·T, t_max·T] with t_min falling linearly (PRD: 0.5 → 0.02 over 20k)."""
    low = ramp(t_min_start, t_min_end, step, span)
    lo, hi = int(math.floor(low * (steps - 1))), int(math.floor(t_max * (steps - 1)))
    return torch.randint(min(lo, hi), hi + 1, (count,), generator=generator)
