"""CAD's evaluation (paper Sec. 4, "Evaluation Metrics"): for each sample of the generator, a 360° orbit of 120 frames,
each frame's CLIP image similarity with the reference image and CLIP text similarity with the prompt, averaged; plus
what the synthetic world can add — each sample's nearest family member (IoU, Chamfer / diagonal) among fresh members
the distillation never saw, and the samples' diversity (mean pairwise 1 − IoU) next to the family's own.

Cameras live in the generator's frame (the reference view at azimuth 180°, supplement C; a folder family is scaled
into the triplane box), so meshes — which generators return in the family's own frame — are brought into it for
rendering; shape metrics are measured in the family's frame. The reference and the ground truth are rendered head-lit,
as the prior renders them; a sample is rendered with its mesh's colours and no further light — they are the
generator's radiance, learnt from those lit renders, which is what its own renders (the paper's frames) show.
Frames are small (CLIP resizes to its input anyway).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.cameras import spherical_to_c2w
from ..core.frame import Frame
from ..core.metrics import chamfer_distance, surface_samples
from ..teachers.synthetic.render import MeshObject, SceneObject
from .defaults import CAD_RESOLUTION as RESOLUTION
from .defaults import FRAMES, MEMBERS
from .family import diversity, iou
from .objects import EvaluationError, arrays, family_of, in_frame, load_mesh, mesh_object, scene_mesh
from .occupancy import inside_grid
from .orbit import turntable
from .shapes import IOU_RESOLUTION, diagonal, iou_box
from .similarity import Similarity

REFERENCE_AZIMUTH = 180.0
"""Azimuth° of CAD's reference view (supplement C)."""
FRESH_SEED = 1_000_000
"""Fresh ground-truth member k of a built-in family is ``family.sample(torch.Generator().manual_seed(FRESH_SEED + k))``
(the held-out members follow the compared ones)."""
HELD_OUT = 4
"""Held-out true members scored as samples are, for the perfect sampler's nearest-member IoU."""
CHAMFER_SAMPLES = 10_000
"""Surface samples per mesh for the nearest-member Chamfer distance."""
IDENTITY = Frame((0.0, 0.0, 0.0), 1.0, 0.0)


@dataclass(frozen=True)
class OrbitViews:
    """The evaluation orbit."""

    elevation_deg: float = 0.0
    """Elevation of the orbit and of the reference view, degrees (the generator's reference elevation)."""
    radius: float = 2.0
    """Camera distance in the generator's frame."""
    fov_deg: float = 49.1
    """Vertical field of view."""
    frames: int = FRAMES
    """Frames of the 360° orbit."""
    resolution: int = RESOLUTION
    """Side of every frame, pixels."""


@dataclass
class SampleScores:
    """One sample of the generator."""

    seed: int
    """Its seed."""
    faces: int
    """Faces of its mesh (0: the latent has no surface; the other scores are then None)."""
    clip_image: float | None
    """Mean image similarity of the orbit's frames to the reference image."""
    clip_text: float | None
    """Mean image-text similarity of the frames to the prompt (None without a prompt or a text encoder)."""
    iou: float | None
    """Volume IoU with the family member it overlaps most."""
    chamfer: float | None
    """Smallest Chamfer distance / that member's diagonal over the members."""
    seconds: float
    """Meshing and scoring time."""

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "faces": self.faces, "clip_image": self.clip_image, "clip_text": self.clip_text, "iou": self.iou,
                "chamfer": self.chamfer, "seconds": self.seconds}  # fmt: skip


@dataclass
class GeneratorScores:
    """A generator against its family."""

    samples: list[SampleScores]
    """Per sample."""
    diversity: float | None
    """Mean pairwise 1 − IoU of the samples with a surface (None for fewer than two)."""
    members_diversity: float | None
    """The same for the ground-truth members (what the family's own variety scores)."""
    true_member_iou: float | None
    """What a perfect sampler scores: the mean nearest-member IoU of held-out true members (a folder family: each file against
    the others). The nearest of a few members of a varied family is far even from a true member (random:2, 8 members: 0.57),
    so a sample's IoU reads against this, not against 1 (None for a one-file folder)."""
    true_member_chamfer: float | None
    """The same for the nearest-member Chamfer / diagonal."""
    reference_clip_image: float
    """The reference object's own orbit against the reference image (what a perfect sample scores)."""
    reference_clip_text: float | None
    """The reference object's orbit against the prompt."""
    extra: dict = field(default_factory=dict)
    """Facts for the JSON file (family, members, frame counts)."""


Renderable = MeshObject | SceneObject
"""Anything with the synthetic world's ``render(c2w, fov_deg, width, height, shaded)``."""


@dataclass(frozen=True)
class Truth:
    """The ground truth of a family."""

    members: list[MeshObject]
    """Fresh members (a folder family: its files), in the family's frame."""
    held_out: list[MeshObject] | None
    """Further fresh members, scored against ``members`` as the samples are (None, a folder family: each file is scored against
    the other files)."""
    reference_object: Callable[[Frame], Renderable]
    """``generator frame → the reference object in it``: the member the distillation's reference image shows."""

    def reference_image(self, frame: Frame, views: OrbitViews) -> torch.Tensor:
        """(3, R, R) the reference image: the reference object from the reference pose."""
        return render(self.reference_object(frame), reference_c2w(views), views)[0]


def render(thing: Renderable, c2w: torch.Tensor, views: OrbitViews, shaded: bool = True) -> torch.Tensor:
    """(B, 3, R, R) renders on white of ``thing`` from ``c2w`` (B, 4, 4), head-lit when ``shaded``."""
    with torch.no_grad():
        out = thing.render(c2w, views.fov_deg, views.resolution, views.resolution, shaded=shaded)
    return out.rgb.permute(0, 3, 1, 2).clamp(0, 1)


def reference_c2w(views: OrbitViews) -> torch.Tensor:
    """(1, 4, 4) the reference camera: the orbit's elevation, azimuth 180°."""
    return spherical_to_c2w(torch.tensor([views.elevation_deg]), torch.tensor([REFERENCE_AZIMUTH]), torch.tensor([views.radius]))


def family_truth(spec: str, members: int = MEMBERS, reference_seed: int = 0, held_out: int = HELD_OUT) -> Truth:
    """The ground truth of a family ``spec`` — a name ``family()`` accepts, or a folder of GLB files — and its reference:
    the member CAD's synthetic prior draws for a job of seed ``reference_seed`` (``family.sample`` of that seed, or the file
    ``torch.randint`` picks); ``held_out`` further fresh members of a named family give the perfect sampler's score."""
    folder = Path(spec).expanduser()
    if folder.is_dir():
        files = sorted(folder.glob("*.glb"))
        if not files:
            raise EvaluationError(f"{folder}: no .glb files (a family folder holds its members as GLB files)")
        loaded = [load_mesh(path) for path in files]
        pick = loaded[int(torch.randint(len(loaded), (1,), generator=torch.Generator().manual_seed(reference_seed)))]
        return Truth(loaded, None, lambda frame: in_frame(pick, frame))
    family = family_of(spec)
    if members < 1:
        raise EvaluationError(f"the ground truth needs at least one member, got {members}")
    fresh = [scene_mesh(family.sample(torch.Generator().manual_seed(FRESH_SEED + k)), name=f"{family.name}-{k}") for k in range(members + held_out)]
    scene = family.sample(torch.Generator().manual_seed(reference_seed))
    return Truth(fresh[:members], fresh[members:], lambda frame: SceneObject(scene))  # a built-in family lives in the generator's frame (the box)


def orbit_scores(thing: Renderable, reference: torch.Tensor, prompt: str, similarity: Similarity, views: OrbitViews,
                 shaded: bool) -> tuple[float, float | None]:  # fmt: skip
    """``(mean image similarity, mean text similarity or None)`` of the orbit of ``thing`` (in the generator's frame), from
    the reference azimuth round, against ``reference`` (3, R, R)."""
    c2w = turntable(views.frames, views.elevation_deg, views.radius, views.fov_deg, REFERENCE_AZIMUTH).c2w()
    frames = torch.cat([render(thing, c2w[i : i + 30], views, shaded) for i in range(0, len(c2w), 30)])
    image = float(similarity.image_scores(frames, reference).mean())
    text = similarity.text_scores(frames, prompt) if prompt.strip() else None
    return image, None if text is None else float(text.mean())


def score_generator(
    generator, seeds: list[int], truth: Truth, similarity: Similarity, views: OrbitViews, *, prompt: str = "", truncation: float = 0.7,
    quality: str = "full", iou_resolution: int = IOU_RESOLUTION, frame: Frame = IDENTITY, progress: Callable[[str], None] | None = None,
) -> GeneratorScores:  # fmt: skip
    """Score the samples of ``seeds`` of ``generator`` (a :class:`backend.generators.Generator`) against ``truth``;
    ``frame`` is the generator's (its meshes are in the family's frame, its cameras in the reconstruction frame)."""
    from ..generators import EmptySurface

    reference = truth.reference_image(frame, views)
    meshes: list[tuple[int, MeshObject | None, float]] = []
    for seed in seeds:
        started = time.perf_counter()
        try:
            asset = generator.asset(generator.latent(seed, truncation), quality)
            meshes.append((seed, mesh_object(asset, f"sample-{seed}"), time.perf_counter() - started))
        except EmptySurface:
            meshes.append((seed, None, time.perf_counter() - started))
    made = [m for _, m, _ in meshes if m is not None]
    lo, hi = iou_box(*(arrays(m)[0] for m in truth.members + (truth.held_out or []) + made))
    member_grids = [inside_grid(*arrays(m), lo, hi, iou_resolution) for m in truth.members]
    member_points = [surface_samples(*arrays(m), CHAMFER_SAMPLES, 0) for m in truth.members]
    member_diagonals = [diagonal(arrays(m)[0]) for m in truth.members]
    true_iou, true_chamfer = true_member_scores(truth, member_grids, member_points, member_diagonals, lo, hi, iou_resolution)
    samples, grids = [], []
    for seed, mesh, seconds in meshes:
        started = time.perf_counter()
        if mesh is None:
            samples.append(SampleScores(seed, 0, None, None, None, None, seconds))
            continue
        grid = inside_grid(*arrays(mesh), lo, hi, iou_resolution)
        grids.append(grid)
        points = surface_samples(*arrays(mesh), CHAMFER_SAMPLES, 0)
        clip_image, clip_text = orbit_scores(in_frame(mesh, frame), reference, prompt, similarity, views, shaded=False)
        samples.append(SampleScores(
            seed, len(mesh.faces), clip_image, clip_text, max(iou(grid, g) for g in member_grids),
            min(chamfer_distance(points, p) / d for p, d in zip(member_points, member_diagonals)), seconds + time.perf_counter() - started,
        ))  # fmt: skip
        if progress is not None:
            progress(f"sample {seed}: {len(mesh.faces)} faces, scored")
    reference_image, reference_text = orbit_scores(truth.reference_object(frame), reference, prompt, similarity, views, shaded=True)
    return GeneratorScores(
        samples=samples,
        diversity=diversity(grids) if len(grids) >= 2 else None,
        members_diversity=diversity(member_grids) if len(member_grids) >= 2 else None,
        true_member_iou=true_iou,
        true_member_chamfer=true_chamfer,
        reference_clip_image=reference_image,
        reference_clip_text=reference_text,
        extra={"members": len(truth.members), "frames": views.frames, "iou_resolution": iou_resolution, "quality": quality, "truncation": truncation},
    )


def true_member_scores(truth: Truth, member_grids: list, member_points: list, member_diagonals: list, lo, hi,
                       iou_resolution: int) -> tuple[float | None, float | None]:  # fmt: skip
    """``(mean nearest-member IoU, mean nearest Chamfer / diagonal)`` of true members: ``truth.held_out`` against the
    members, or (a folder family) each member against the others; ``(None, None)`` when there is nothing to score."""
    if truth.held_out is None:
        pairs = [(member_grids[i], member_points[i], [j for j in range(len(member_grids)) if j != i]) for i in range(len(member_grids))]
    else:
        pairs = [(inside_grid(*arrays(m), lo, hi, iou_resolution), surface_samples(*arrays(m), CHAMFER_SAMPLES, 1), range(len(member_grids)))
                 for m in truth.held_out]  # fmt: skip
    pairs = [(grid, points, others) for grid, points, others in pairs if len(others)]
    if not pairs:
        return None, None
    ious = [max(iou(grid, member_grids[j]) for j in others) for grid, _, others in pairs]
    chamfers = [min(chamfer_distance(points, member_points[j]) / member_diagonals[j] for j in others) for _, points, others in pairs]
    return float(sum(ious) / len(ious)), float(sum(chamfers) / len(chamfers))


@dataclass(frozen=True)
class GeneratorFacts:
    """What the evaluation needs to know about a loaded generator."""

    family: str | None
    """The family it was distilled from (``generator.json``'s ``about.family``; a demo generator's family), if it says."""
    frame: Frame
    """Its frame: meshes in the family's frame, cameras in its reconstruction frame."""
    elevation_deg: float
    """Elevation of the reference view it was distilled from."""
    radius: float
    """Its camera distance."""
    fov_deg: float
    """Its field of view."""


def generator_facts(generator, folder: Path | None, spec: str = "") -> GeneratorFacts:
    """The facts of ``generator``, loaded from ``folder`` (None: not from a folder) or named by ``spec`` (``demo:<family>``
    names its family as ``family()`` takes it: ``demo:random:7``)."""
    family = getattr(getattr(generator, "family", None), "name", None)
    if spec.startswith("demo:"):
        from ..generators.demo import DEFAULT_FAMILY

        family = spec.partition(":")[2] or DEFAULT_FAMILY
    if folder is not None and (folder / "generator.json").is_file():
        about = json.loads((folder / "generator.json").read_text(encoding="utf-8")).get("about", {})
        if isinstance(about, dict) and about.get("family"):
            family = str(about["family"])
    config = getattr(getattr(generator, "model", None), "config", None)
    return GeneratorFacts(
        family=family or None,
        frame=getattr(generator, "frame", IDENTITY),
        elevation_deg=float(getattr(generator, "reference_elevation", 0.0)),
        radius=float(getattr(config, "radius", 2.0)),
        fov_deg=float(getattr(config, "fov_deg", 49.1)),
    )


@dataclass
class Training:
    """A CAD distillation run in this process."""

    folder: Path
    """The generator folder it saved."""
    seconds: float
    """Wall time of the run (prior, both stages, export)."""
    metadata: dict
    """The job result's metadata (the prior's report, kept samples)."""


def train_cad(family: str, preset: str, seed: int, overrides: dict[str, Any], device: str, work: Path, elevation_deg: float | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> Training:  # fmt: skip
    """Distil a CAD generator from the synthetic prior of ``family`` in this process (as a CAD job of seed ``seed``).

    Raises ProtocolError / SchemaError for a bad preset or override, MethodError when the method fails."""
    from protocol.messages import Camera

    from ..methods import create, get
    from ..methods.base import JobContext, JobInputs
    from ..methods.configs import resolve
    from ..methods.progress import ProgressReporter

    _, config = resolve(get("cad"), preset, {**overrides, "prior": "synthetic", "family": family})

    def emit(kind: str, data: dict, payload: bytes | None) -> None:
        if kind == "progress" and progress is not None:
            progress(data["stage"], data["step"], data["total"])

    work.mkdir(parents=True, exist_ok=True)
    folder = work / "generator"
    context = JobContext(job_id="eval", device=device, work_dir=work, reporter=ProgressReporter(emit, min_interval_s=1.0), generator_dir=folder)
    camera = None if elevation_deg is None else Camera(elevation_deg=elevation_deg)
    started = time.perf_counter()
    result = create("cad").run(JobInputs("", "", seed, camera, None), config, context)
    return Training(folder, time.perf_counter() - started, dict(result.metadata))
