"""CAD's real multi-view prior (paper Sec. 3.3, supplement C): N Zero123 samples per target pose, refined by DeepFloyd IF.

For a target pose, N samples are drawn in parallel by Zero-1-to-3 conditioned on the reference
image (at azimuth 180°, the job's elevation) and the relative camera; pose pruning compares these
N samples with CLIP (paper Sec. 3.3), and only the sample a kept pose keeps — the one most similar
to the reference — is refined under the prompt with its view-dependent suffix, which widens the
distribution (the supplement's "distribution refinement"): by SDEdit with DeepFloyd IF (stage I
at s₁ = 0.3, stage II at s₂ = 0.7, held by the refiner's options), or by ControlNet-depth img2img
at s = 0.8 whose control image is the depth model's estimate of the sample. The view suffix is
relative to the reference: the input image's side is the front (", front view" at azimuth 180°).
The truth of a sample is unknown here, so every sample is labelled good and the report's
precision and recall stay empty (they are measured on the synthetic world).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ...teachers.base import Condition, Teacher
from ...teachers.controlnet_depth import normalise_inverse_depth
from ...teachers.synthetic.prior import SampleLabel
from .config import PriorSamplingConfig
from .prior_cache import REFERENCE_AZIMUTH, PoseSamples
from ...core.masks import foreground_masks


@dataclass
class ControlNetRefiner:
    """ControlNet-depth img2img of samples, each steered by its own estimated depth (paper: s = 0.8)."""

    teacher: Teacher
    """:class:`backend.teachers.controlnet_depth.ControlNetDepthTeacher`."""
    depth: object
    """A :class:`backend.teachers.depth.DepthEstimator`."""
    strength: float = 0.8
    """SDEdit strength s."""

    def refine_images(self, images: torch.Tensor, condition: Condition, steps: int = 50, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] on white → refined images in [0, 1]."""
        mask = foreground_masks(images.cpu()).float()[:, None]
        control = normalise_inverse_depth(self.depth(images).cpu(), mask)
        return self.teacher.refine_images(images, self.strength, replace(condition, depth=control.to(self.teacher.device)), steps, generator)


@dataclass
class DiffusionSampler:
    """Zero123 (+ DeepFloyd IF refinement) as a :class:`~.prior_cache.PoseSampler`."""

    zero123: Teacher
    """The view-conditioned teacher (:class:`backend.teachers.zero123.Zero123Teacher`)."""
    refiner: object | None
    """A :class:`backend.teachers.deepfloyd_if.DeepFloydRefiner` or a :class:`ControlNetRefiner` (anything with
    ``refine_images(images, condition, steps, generator)``), or None to keep Zero123's samples as they are."""
    reference: torch.Tensor
    """(3, H, W) the reference view in [0, 1] on white."""
    elevation: float
    """Elevation° of the reference camera (its azimuth is 180°)."""
    prompt: str
    """The refinement prompt (view suffixes are added per pose)."""
    negative_prompt: str
    """The refinement's negative prompt."""
    image_size: int
    """Side of the cached samples (the generator's image resolution)."""
    radius: float = 2.0
    """Camera distance of the reference and target poses."""
    steps: int = 50
    """DDIM steps of the Zero123 sampling and of each refinement stage."""
    guidance: float | None = None
    """Zero123's classifier-free guidance (None: the teacher's default)."""
    name: str = "zero123"
    """Recorded in ``cache.json``."""

    def zero123_views(self, poses: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Zero123's samples (K, 3, H, W) of the reference at absolute poses ``poses`` (K, 3), unrefined, on Zero123's device."""
        condition = Condition(
            image=self.reference[None], poses=poses, reference_pose=(self.elevation, REFERENCE_AZIMUTH, self.radius),
            guidance_scale=self.guidance,
        )  # fmt: skip
        with torch.no_grad():
            shape = (len(poses), *self.zero123.encode(self.reference[None].to(self.zero123.device)).shape[1:])
            return self.zero123.decode(self.zero123.sample(shape, condition, self.steps, generator))

    def draw(self, pose: torch.Tensor, config: PriorSamplingConfig, generator: torch.Generator) -> PoseSamples:
        """N unrefined Zero123 samples (N, 3, h, w) at ``pose`` (3,), on the CPU, for pruning."""
        n = config.samples_per_pose
        images = self.zero123_views(pose[None].repeat(n, 1), generator)
        return PoseSamples(images=images.float().cpu().clamp(0, 1), labels=[SampleLabel.GOOD] * n)

    def refine(self, image: torch.Tensor, pose: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The kept sample (3, h, w) refined under the prompt of its view (the reference's side is the front) and
        resized to the cache's ``image_size``."""
        if self.refiner is not None:
            with torch.no_grad():
                text = Condition(
                    prompt=self.prompt, negative_prompt=self.negative_prompt, poses=pose[None],
                    reference_pose=(self.elevation, REFERENCE_AZIMUTH, self.radius),
                )  # fmt: skip
                image = self.refiner.refine_images(image[None], text, self.steps, generator)[0]
        return F.interpolate(image[None].float().cpu(), size=(self.image_size, self.image_size), mode="area")[0].clamp(0, 1)

    def novel_views(self, offsets: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Zero123's views (K, 3, H, W) in [0, 1] of the reference at relative poses ``offsets`` (K, 2) (Δelevation°,
        Δazimuth°), unrefined: for :func:`~.elevation.estimate_elevation`, which needs no absolute elevation (Zero123's
        camera conditioning is relative)."""
        poses = torch.stack([self.elevation + offsets[:, 0], REFERENCE_AZIMUTH + offsets[:, 1], torch.full((len(offsets),), self.radius)], dim=-1)
        return self.zero123_views(poses, generator).float().cpu().clamp(0, 1)
