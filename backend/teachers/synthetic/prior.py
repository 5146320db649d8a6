"""The synthetic prior sampler: renders of random members of a family at random poses, some deliberately bad.

CAD distils a 3D GAN from 2D samples of a diffusion prior and prunes samples whose
pose does not match; this sampler stands in for that prior. A requested share of
samples is made bad in a labelled way — rendered from another pose than the one
reported (``wrong_pose``), showing another object (``wrong_object``), or damaged
(``corrupted``) — so pruning can be scored by precision and recall.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Sequence

import torch

from backend.core.cameras import spherical_to_c2w

from .families import FAMILIES, Family
from .render import SceneObject, SyntheticObject


class SampleLabel(str, enum.Enum):
    GOOD = "good"
    """Rendered as reported: the right object at the reported pose."""
    WRONG_POSE = "wrong_pose"
    """Rendered 90°–270° of azimuth away from the reported pose."""
    WRONG_OBJECT = "wrong_object"
    """A member of a distractor family at the reported pose."""
    CORRUPTED = "corrupted"
    """Noise, an occluding block and swapped colour channels."""


BAD_LABELS = (SampleLabel.WRONG_POSE, SampleLabel.WRONG_OBJECT, SampleLabel.CORRUPTED)


@dataclass(frozen=True)
class PriorConfig:
    """What the sampler renders."""

    image_size: int = 64
    """Square image side, pixels."""
    fov_deg: float = 49.1
    """Vertical field of view (CAD's)."""
    radius: float = 2.0
    """Camera distance (CAD's)."""
    elevation_range: tuple[float, float] = (-10.0, 40.0)
    """Elevations drawn uniformly, degrees."""
    azimuth_range: tuple[float, float] = (-180.0, 180.0)
    """Azimuths drawn uniformly, degrees."""
    bad_fraction: float = 0.0
    """Share of samples made bad, in [0, 1]."""
    bad_kinds: tuple[SampleLabel, ...] = BAD_LABELS
    """Which kinds of bad sample to inject (drawn uniformly)."""
    shaded: bool = True
    """Head-light shading (samples look like renders, not flat albedo)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.bad_fraction <= 1.0:
            raise ValueError(f"bad_fraction must be in [0, 1], got {self.bad_fraction}")
        if self.bad_fraction > 0 and not self.bad_kinds:
            raise ValueError("bad_fraction > 0 needs at least one bad kind")
        if any(kind is SampleLabel.GOOD for kind in self.bad_kinds):
            raise ValueError("'good' is not a kind of bad sample")
        if self.image_size < 8:
            raise ValueError(f"image_size must be at least 8, got {self.image_size}")


@dataclass
class PriorSamples:
    """A batch from the prior."""

    images: torch.Tensor
    """(N, 3, H, W) in [0, 1]."""
    poses: torch.Tensor
    """(N, 3) reported (elevation°, azimuth°, radius) — for bad samples not necessarily the true one."""
    labels: list[SampleLabel]
    """What each sample really is."""
    objects: list[str] = field(default_factory=list)
    """Name of the object each sample shows."""

    @property
    def bad(self) -> torch.Tensor:
        """(N,) bool: the sample was made bad."""
        return torch.tensor([label is not SampleLabel.GOOD for label in self.labels])


def _uniform(n: int, bounds: tuple[float, float], generator: torch.Generator | None) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=generator)


def corrupt(image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A damaged copy of one image (3, H, W) in [0, 1]: channels rotated, strong noise, a grey block over a quarter."""
    _, height, width = image.shape
    damaged = image[[2, 0, 1]] + 0.35 * torch.randn(image.shape, generator=generator)
    top = int(torch.randint(0, height // 2 + 1, (1,), generator=generator))
    left = int(torch.randint(0, width // 2 + 1, (1,), generator=generator))
    damaged[:, top : top + height // 2, left : left + width // 2] = 0.5
    return damaged.clamp(0, 1)


class SyntheticPrior:
    """Samples renders of ``source`` (a family, or a list of objects such as GLBs loaded from a folder)."""

    def __init__(
        self,
        source: Family | Sequence[SyntheticObject],
        config: PriorConfig = PriorConfig(),
        distractor: Family | Sequence[SyntheticObject] | None = None,
    ) -> None:
        if not isinstance(source, Family) and not source:
            raise ValueError("the prior needs a family or at least one object")
        self.source = source
        self.config = config
        if distractor is None:
            other = "table" if getattr(source, "name", None) == "snowman" else "snowman"
            distractor = FAMILIES[other]
        self.distractor = distractor

    @staticmethod
    def draw_object(pool: Family | Sequence[SyntheticObject], generator: torch.Generator | None) -> SyntheticObject:
        """A random member of ``pool``: a new member of a family, or one of a list of objects."""
        if isinstance(pool, Family):
            return SceneObject(pool.sample(generator))
        return pool[int(torch.randint(len(pool), (1,), generator=generator))]

    def random_poses(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, 3) poses drawn from the configured ranges at the configured radius."""
        c = self.config
        return torch.stack([_uniform(n, c.elevation_range, generator), _uniform(n, c.azimuth_range, generator), torch.full((n,), c.radius)], dim=-1)

    def render(self, target: SyntheticObject, poses: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) of ``target`` at ``poses`` (N, 3)."""
        c = self.config
        c2w = spherical_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2])
        return target.render(c2w, c.fov_deg, c.image_size, c.image_size, shaded=c.shaded).rgb.permute(0, 3, 1, 2)

    def sample(self, n: int, generator: torch.Generator | None = None) -> PriorSamples:
        """``n`` samples; round(bad_fraction·n) of them bad, at random positions."""
        c = self.config
        poses = self.random_poses(n, generator)
        bad_count = round(c.bad_fraction * n)
        bad_positions = set(torch.randperm(n, generator=generator)[:bad_count].tolist())
        images, labels, names = [], [], []
        for i in range(n):
            label = SampleLabel.GOOD
            if i in bad_positions:
                label = c.bad_kinds[int(torch.randint(len(c.bad_kinds), (1,), generator=generator))]
            target = self.draw_object(self.distractor if label is SampleLabel.WRONG_OBJECT else self.source, generator)
            pose = poses[i : i + 1].clone()
            if label is SampleLabel.WRONG_POSE:
                pose[:, 1] += _uniform(1, (90.0, 270.0), generator)
            image = self.render(target, pose)[0]
            if label is SampleLabel.CORRUPTED:
                image = corrupt(image, generator)
            images.append(image)
            labels.append(label)
            names.append(target.name)
        return PriorSamples(images=torch.stack(images), poses=poses, labels=labels, objects=names)
