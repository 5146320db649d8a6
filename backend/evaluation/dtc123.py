"""DTC123's evaluation (paper Sec. 5, Table 1): reconstruction at the reference view (PSNR, LPIPS), consistency at novel
views (CLIP similarity of novel-view renders to the reference image, as RealFusion and Magic123 measure it), plus the
shape against the ground truth (Chamfer / diagonal, volume IoU, F-score) — which the synthetic world has.

Everything is measured in the frame DTC123 reconstructs in (:meth:`backend.core.frame.Frame.normalising` of the
truth, the reference camera at azimuth 0): the truth and the result are both brought there, the reference view is
the truth's render at the job's camera (what the synthetic teacher gives DTC123 as its input image), and the result is
rendered from the same camera. Renders are unshaded albedo on white, as the reference is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.cameras import spherical_to_c2w
from ..core.frame import Frame
from ..teachers.synthetic.render import MeshObject
from .defaults import DTC123_RESOLUTION as RESOLUTION
from .defaults import ELEVATION, NOVEL_VIEWS
from .images import Lpips, object_box, psnr
from .objects import arrays, in_frame
from .orbit import novel_views
from .shapes import IOU_RESOLUTION, SAMPLES, TAU, ShapeScores, compare_shapes
from .similarity import Similarity



@dataclass(frozen=True)
class Views:
    """The cameras of one evaluation."""

    elevation_deg: float = ELEVATION
    """Elevation of the reference camera (the job's), degrees."""
    azimuth_deg: float = 0.0
    """Azimuth of the reference camera in the object's frame (the job's), degrees."""
    radius: float = 2.0
    """Camera distance in the reconstruction frame (DTC123's ``cameras.radius``)."""
    fov_deg: float = 49.1
    """Vertical field of view (DTC123's ``cameras.fov_deg``)."""
    resolution: int = RESOLUTION
    """Side of the renders, pixels."""
    novel: int = NOVEL_VIEWS
    """Number of novel views."""


@dataclass(frozen=True)
class ShapeOptions:
    """How the shape is compared."""

    tau: float = TAU
    """F-score threshold, a fraction of the truth's bounding-box diagonal."""
    samples: int = SAMPLES
    """Surface samples per mesh."""
    resolution: int = IOU_RESOLUTION
    """Cells per axis of the IoU grid."""


@dataclass(frozen=True)
class ReconstructionScores:
    """One result against its ground truth."""

    psnr: float
    """PSNR (dB) of the result's reference-view render against the reference image, on the union of their silhouettes' bounding box."""
    lpips: float
    """LPIPS of the same pair (lower is better)."""
    clip_reference: float
    """Image similarity of the result's reference-view render to the reference image."""
    clip_novel: float
    """Mean image similarity of the result's novel-view renders to the reference image (the paper's CLIP-similarity)."""
    clip_novel_truth: float
    """The same for the truth's own novel views: what a perfect reconstruction scores."""
    shape: ShapeScores
    """Chamfer / diagonal, IoU, F-score against the truth."""

    def to_json(self) -> dict[str, Any]:
        return {"psnr": self.psnr, "lpips": self.lpips, "clip_reference": self.clip_reference, "clip_novel": self.clip_novel,
                "clip_novel_truth": self.clip_novel_truth, "chamfer": self.shape.chamfer, "iou": self.shape.iou,
                "fscore": self.shape.fscore, "precision": self.shape.precision, "recall": self.shape.recall, "tau": self.shape.tau}  # fmt: skip


def images(mesh: MeshObject, c2w: torch.Tensor, fov_deg: float, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rgb (B, 3, R, R), mask (B, R, R))``: unshaded renders of ``mesh`` from ``c2w`` (B, 4, 4) on white."""
    with torch.no_grad():
        out = mesh.render(c2w, fov_deg, resolution, resolution)
    return out.rgb.permute(0, 3, 1, 2).clamp(0, 1), out.mask


def score_reconstruction(
    result: MeshObject, truth: MeshObject, similarity: Similarity, lpips: Lpips, views: Views = Views(), shape: ShapeOptions = ShapeOptions()
) -> ReconstructionScores:
    """Score ``result`` against ``truth`` (both in the object's frame)."""
    frame = Frame.normalising(truth.positions.double().numpy(), views.azimuth_deg)
    truth, result = in_frame(truth, frame), in_frame(result, frame)
    reference_c2w = spherical_to_c2w(torch.tensor([views.elevation_deg]), torch.tensor([0.0]), torch.tensor([views.radius]))
    reference, reference_mask = images(truth, reference_c2w, views.fov_deg, views.resolution)
    rendered, rendered_mask = images(result, reference_c2w, views.fov_deg, views.resolution)
    box = object_box(torch.cat([reference_mask, rendered_mask]))
    novel = novel_views(views.novel, views.elevation_deg, views.radius, views.fov_deg).c2w()
    result_novel, _ = images(result, novel, views.fov_deg, views.resolution)
    truth_novel, _ = images(truth, novel, views.fov_deg, views.resolution)
    return ReconstructionScores(
        psnr=float(psnr(rendered, reference, box)[0]),
        lpips=float(lpips(rendered, reference)[0]),
        clip_reference=float(similarity.image_scores(rendered, reference[0])[0]),
        clip_novel=float(similarity.image_scores(result_novel, reference[0]).mean()),
        clip_novel_truth=float(similarity.image_scores(truth_novel, reference[0]).mean()),
        shape=compare_shapes(*arrays(result), *arrays(truth), tau=shape.tau, samples=shape.samples, resolution=shape.resolution),
    )


@dataclass
class Run:
    """One DTC123 run on a target."""

    glb: bytes
    """The result's GLB (in the target's frame)."""
    seconds: float
    """Wall time of the method's run."""
    radius: float
    """The config's camera distance (of the reference view)."""
    fov_deg: float
    """The config's field of view."""
    metadata: dict = field(default_factory=dict)
    """The result's metadata (iterations, faces, …)."""


Progress = Callable[[str, int, int], None]
"""``progress(stage, step, total)``."""


def run_dtc123(target: Path, preset: str, seed: int, elevation_deg: float, overrides: dict[str, Any], device: str, work: Path,
               progress: Progress | None = None) -> Run:  # fmt: skip
    """Run DTC123 in this process with the synthetic teacher on the GLB ``target`` seen from ``elevation_deg`` at azimuth 0.

    Raises ProtocolError / SchemaError for a bad preset or override, MethodError when the method fails."""
    from protocol.messages import Camera

    from ..methods import create, get
    from ..methods.base import JobContext, JobInputs
    from ..methods.configs import resolve
    from ..methods.progress import ProgressReporter

    _, config = resolve(get("dtc123"), preset, {**overrides, "teacher": "synthetic", "target": str(target)})

    def emit(kind: str, data: dict, payload: bytes | None) -> None:
        if kind == "progress" and progress is not None:
            progress(data["stage"], data["step"], data["total"])

    work.mkdir(parents=True, exist_ok=True)
    context = JobContext(job_id="eval", device=device, work_dir=work, reporter=ProgressReporter(emit, min_interval_s=1.0), generator_dir=work / "generator")
    started = time.perf_counter()
    result = create("dtc123").run(JobInputs("", "", seed, Camera(elevation_deg=elevation_deg), None), config, context)
    seconds = time.perf_counter() - started
    return Run(result.files["mesh.glb"].data, seconds, config.cameras.radius, config.cameras.fov_deg, dict(result.metadata))
