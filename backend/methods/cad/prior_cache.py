"""CAD's multi-view prior, sampled once, pose-pruned and cached on disk (paper Sec. 3.3, supplement C), on the synthetic world.

Target poses are drawn uniformly on the sphere of radius 2 around the object (the supplement:
"each sample is associated with a unique pose, uniformly distributed across a sphere"); the
reference view sits at azimuth 180°. The order is the paper's: for every pose N samples are
drawn, the pose is pruned (:func:`~.pruning.prune_pose`), and only a kept pose's sample most
similar to the reference is refined (:meth:`PoseSampler.refine`: DeepFloyd IF or ControlNet for
the real prior, nothing for the synthetic one) and cached. Poses are tried until ``samples``
samples are kept (the supplement's 10K) or ``max_poses`` were tried.

Before the first pose, ``calibration_poses`` poses are drawn with their own seed and scored (not
cached): their Eq. 11 scores set the job's similarity cut (:func:`~.pruning.similarity_cut`),
written to ``calibration.json`` so a resumed run decides as the first did.

In the synthetic world, N samples stand in for N parallel Zero-1-to-3 samples: one random member
of the prior's family (the variety across poses is the variety the generator learns) rendered from
N slightly jittered poses (the spread of N diffusion samples of one view). With probability
``bad_fraction`` a pose *fails*: 1 to N of its samples are replaced by bad ones of the kinds of
:class:`~backend.teachers.synthetic.prior.SampleLabel` (wrong pose, wrong object, corrupted).

**On disk** (``folder``): ``cache.json`` (what the cache is of: config, seed, source, a digest
of the reference), ``calibration.json``, ``chunk-00000.safetensors``, … — one per ``chunk_poses``
poses tried (the last one shorter when the target is reached), written atomically, holding the
kept samples (``images`` uint8 (K, 3, H, W), ``poses`` float32 (K, 3) as (elevation°, azimuth°,
radius), ``labels`` uint8 (K,) indices into :data:`LABELS`) and every tried pose's outcome
(``tried_poses`` (T, 3), ``sample_labels`` (T, N), ``reasons`` (T,) indices into :data:`REASONS`,
``max_outside`` (T,), ``min_similarity`` (T,)) — and ``report.json`` (:func:`summarise`). Chunk c
draws from its own seed, so a rerun with the same folder and seed continues after the last
complete chunk and ends with the same files as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from backend.teachers.synthetic.families import Family
from backend.teachers.synthetic.prior import BAD_LABELS, SampleLabel, SyntheticPrior, corrupt
from backend.teachers.synthetic.render import SyntheticObject
from backend.teachers.synthetic.similarity import image_similarity
from protocol.schema import from_plain, to_plain
from protocol.atomic import replacing, write_json

from .config import PriorSamplingConfig
from .pruning import SimilarityCut, SimilarityFn, pose_scores, prune_pose, similarity_cut

REFERENCE_AZIMUTH = 180.0
"""Azimuth° of the reference view (supplement C)."""
LABELS = tuple(SampleLabel)
"""Label codes stored in chunk files: ``labels[i]`` is ``LABELS[code]``."""
REASONS = (None, "outside_overlap", "low_similarity")
"""Pruning-reason codes stored in chunk files (0: kept)."""
SUMMARY_KEYS = ("labels", "sample_labels", "reasons")
CALIBRATION_FILE = "calibration.json"
"""In a cache folder: the calibration poses' scores and the similarity cut they set."""
"""The tensors of a chunk file that :func:`summarise` reads."""

Progress = Callable[[int, int], None]
"""``progress(kept_samples, target_samples)``, after every pose tried; may raise (e.g. to cancel) — the cache on disk
stays consistent."""


@dataclass
class PoseSamples:
    """The N samples drawn for one target pose."""

    images: torch.Tensor
    """(N, 3, H, W) in [0, 1]."""
    labels: list[SampleLabel]
    """What each sample really is."""


def reference_view(prior: SyntheticPrior, target: SyntheticObject, elevation_deg: float) -> torch.Tensor:
    """(3, H, W) render of ``target`` from the reference pose: ``elevation_deg``, azimuth 180°, the prior's radius."""
    return prior.render(target, torch.tensor([[elevation_deg, REFERENCE_AZIMUTH, prior.config.radius]]))[0]


def sphere_poses(n: int, elevation_range: tuple[float, float], radius: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 3) poses (elevation°, azimuth°, radius) uniform on the sphere's band between the elevations: sin(elevation) is uniform."""
    low, high = (math.sin(math.radians(e)) for e in elevation_range)
    elevation = torch.rad2deg(torch.asin((low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)).clamp(-1, 1)))
    azimuth = -180.0 + 360.0 * torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.stack([elevation, azimuth, torch.full((n,), radius, dtype=torch.float64)], dim=-1).float()


def draw_pose_samples(prior: SyntheticPrior, pose: torch.Tensor, config: PriorSamplingConfig, generator: torch.Generator) -> PoseSamples:
    """N samples at ``pose`` (3,): one random family member seen from N poses jittered by up to ``sample_jitter_deg``; when
    the pose fails, 1 to N of them bad (wrong pose: 90°–270° off in azimuth; wrong object: a distractor family's member)."""
    n = config.samples_per_pose
    labels = [SampleLabel.GOOD] * n
    if float(torch.rand(1, generator=generator)) < config.bad_fraction:
        count = int(torch.randint(1, n + 1, (1,), generator=generator))
        for i in torch.randperm(n, generator=generator)[:count].tolist():
            labels[i] = SampleLabel(config.bad_kinds[int(torch.randint(len(config.bad_kinds), (1,), generator=generator))])
    member = prior.draw_object(prior.source, generator)
    images = []
    for label in labels:
        target = prior.draw_object(prior.distractor, generator) if label is SampleLabel.WRONG_OBJECT else member
        shown = pose[None].clone()
        shown[:, :2] += config.sample_jitter_deg * (2 * torch.rand(1, 2, generator=generator) - 1)
        if label is SampleLabel.WRONG_POSE:
            shown[:, 1] += 90.0 + 180.0 * torch.rand(1, generator=generator)
        image = prior.render(target, shown)[0]
        images.append(corrupt(image, generator) if label is SampleLabel.CORRUPTED else image)
    return PoseSamples(images=torch.stack(images), labels=labels)


def chunk_seed(seed: int, chunk: int) -> int:
    """The 32-bit seed of chunk ``chunk`` of a run seeded ``seed`` (torch's CPU generator keeps only 32 bits of a seed)."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{chunk}".encode()).digest()[:4], "little")


def chunk_path(folder: Path, chunk: int) -> Path:
    return folder / f"chunk-{chunk:05d}.safetensors"


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)


class PoseSampler(Protocol):
    """Where the N samples of a target pose come from: the synthetic world, or Zero123 (+ refinement)."""

    image_size: int
    """Side of the cached samples."""
    radius: float
    """Camera distance of the target poses."""
    name: str | list[str]
    """What is sampled (recorded in ``cache.json``)."""

    def draw(self, pose: torch.Tensor, config: PriorSamplingConfig, generator: torch.Generator) -> PoseSamples:
        """The N samples at ``pose`` (3,), as pruning compares them (unrefined)."""
        ...

    def refine(self, image: torch.Tensor, pose: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The kept sample (3, h, w) of a pose that passed pruning → the cached sample (3, image_size, image_size) in [0, 1]."""
        ...


@dataclass(frozen=True)
class SyntheticSampler:
    """:func:`draw_pose_samples` of a :class:`SyntheticPrior` as a :class:`PoseSampler` (its samples need no refinement)."""

    prior: SyntheticPrior

    @property
    def image_size(self) -> int:
        return self.prior.config.image_size

    @property
    def radius(self) -> float:
        return self.prior.config.radius

    @property
    def name(self) -> str | list[str]:
        source = self.prior.source
        return source.name if isinstance(source, Family) else [obj.name for obj in source]

    def draw(self, pose: torch.Tensor, config: PriorSamplingConfig, generator: torch.Generator) -> PoseSamples:
        return draw_pose_samples(self.prior, pose, config, generator)

    def refine(self, image: torch.Tensor, pose: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return image


MIN_CALIBRATION_POSES = 3
"""Fewer calibration poses passing the geometric check than this, and the cut is measured on all of them."""


def calibrate(reference: torch.Tensor, sampler: PoseSampler, config: PriorSamplingConfig, seed: int, similarity: SimilarityFn) -> dict:
    """``calibration.json``: the smallest Eq. 11 score of each of ``calibration_poses`` poses (drawn from their own seed,
    as the cache's poses are), whether each passed the geometric check, and the :class:`~.pruning.SimilarityCut` set by
    the scores of those that passed (the geometric check removes most bad poses first, so the median and MAD see
    mostly good ones even when many poses fail; all of them when fewer than :data:`MIN_CALIBRATION_POSES` passed)."""
    generator = torch.Generator().manual_seed(chunk_seed(seed, -1))
    poses = sphere_poses(config.pruning.calibration_poses, config.elevation_range, sampler.radius, generator)
    scores, passed = [], []
    for pose in poses:
        _, outside_share, similarities = pose_scores(sampler.draw(pose, config, generator).images, reference, similarity, config.pruning)
        scores.append(float(similarities.min()))
        passed.append(outside_share <= config.pruning.max_outside_fraction)
    chosen = [x for x, ok in zip(scores, passed) if ok]
    cut = similarity_cut(torch.tensor(chosen if len(chosen) >= MIN_CALIBRATION_POSES else scores), config.pruning.similarity_spreads)
    return {"scores": [round(x, 6) for x in scores], "passed_geometry": passed, **asdict(cut)}


def _sample_chunk(
    chunk: int, start_kept: int, reference: torch.Tensor, sampler: PoseSampler, config: PriorSamplingConfig, seed: int,
    similarity: SimilarityFn, cut: SimilarityCut, on_pose: Callable[[int], None],
) -> dict[str, torch.Tensor]:
    """The tensors of chunk file ``chunk`` (see the module doc), which stops early once ``start_kept`` + its kept samples
    reach the target; ``on_pose(kept so far)`` is called after each pose."""
    generator = torch.Generator().manual_seed(chunk_seed(seed, chunk))
    count = min(config.chunk_poses, config.max_poses - chunk * config.chunk_poses)
    candidates = sphere_poses(count, config.elevation_range, sampler.radius, generator)
    kept_images, kept_poses, kept_labels, sample_labels, decisions, tried = [], [], [], [], [], []
    for pose in candidates:
        if start_kept + len(kept_images) >= config.samples:
            break
        samples = sampler.draw(pose, config, generator)
        decision = prune_pose(samples.images, reference, similarity, config.pruning, cut)
        if decision.keep:
            kept_images.append(_to_uint8(sampler.refine(samples.images[decision.best], pose, generator)))
            kept_poses.append(pose)
            kept_labels.append(LABELS.index(samples.labels[decision.best]))
        sample_labels.append([LABELS.index(label) for label in samples.labels])
        decisions.append(decision)
        tried.append(pose)
        on_pose(start_kept + len(kept_images))
    side = sampler.image_size
    return {
        "images": torch.stack(kept_images) if kept_images else torch.zeros(0, 3, side, side, dtype=torch.uint8),
        "poses": torch.stack(kept_poses) if kept_poses else torch.zeros(0, 3),
        "labels": torch.tensor(kept_labels, dtype=torch.uint8),
        "tried_poses": torch.stack(tried) if tried else torch.zeros(0, 3),
        "sample_labels": torch.tensor(sample_labels, dtype=torch.uint8).reshape(len(tried), config.samples_per_pose),
        "reasons": torch.tensor([REASONS.index(d.reason) for d in decisions], dtype=torch.uint8),
        "max_outside": torch.tensor([d.max_outside for d in decisions], dtype=torch.int32),
        "min_similarity": torch.tensor([d.min_similarity for d in decisions], dtype=torch.float32),
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def summarise(stats: list[dict[str, torch.Tensor]], config: PriorSamplingConfig, cut: dict | None = None) -> dict:
    """``report.json`` from the chunks written so far (the ``SUMMARY_KEYS`` tensors of each).

    The cache is ``complete`` when it holds ``samples`` samples or tried ``max_poses`` poses. A pose is
    *bad* when any of its samples is; ``precision`` is the share of pruned poses that are bad, ``recall``
    the share of bad poses pruned (None when undefined), ``recall_by_kind`` the recall over the poses with
    a sample of that kind, ``kept_good_share`` the share of kept samples (each the best of its pose) that
    are good; ``similarity_cut`` is the calibration's cut (its median, spread and threshold).
    """
    sample_labels = torch.cat([s["sample_labels"] for s in stats]) if stats else torch.zeros(0, 1, dtype=torch.uint8)
    reasons = torch.cat([s["reasons"] for s in stats]) if stats else torch.zeros(0, dtype=torch.uint8)
    kept_labels = torch.cat([s["labels"] for s in stats]) if stats else torch.zeros(0, dtype=torch.uint8)
    good = LABELS.index(SampleLabel.GOOD)
    bad = (sample_labels != good).any(dim=1)
    pruned = reasons != 0
    recall_by_kind = {}
    for label in BAD_LABELS:
        has = (sample_labels == LABELS.index(label)).any(dim=1)
        recall_by_kind[label.value] = _ratio(int((pruned & has).sum()), int(has.sum()))
    kept = int((~pruned).sum())
    return {
        "samples_target": config.samples,
        "poses_tried": len(reasons),
        "complete": kept >= config.samples or len(reasons) >= config.max_poses,
        "kept": kept,
        "pruned": {reason: int((reasons == code).sum()) for code, reason in enumerate(REASONS) if reason},
        "bad_poses": int(bad.sum()),
        "precision": _ratio(int((pruned & bad).sum()), int(pruned.sum())),
        "recall": _ratio(int((pruned & bad).sum()), int(bad.sum())),
        "recall_by_kind": recall_by_kind,
        "kept_good_share": _ratio(int((kept_labels == good).sum()), len(kept_labels)),
        "similarity_cut": None if cut is None else {key: cut[key] for key in ("median", "spread", "threshold", "poses")},
    }


def _chunk_count(config: PriorSamplingConfig) -> int:
    """The most chunk files a cache can have."""
    return math.ceil(config.max_poses / config.chunk_poses)


def _complete_chunks(folder: Path, chunks: int) -> int:
    """How many chunk files, from the first, are on disk."""
    done = 0
    while done < chunks and chunk_path(folder, done).exists():
        done += 1
    return done


def _read_stats(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {key: f.get_tensor(key) for key in SUMMARY_KEYS}


def _settled_calibration(folder: Path, reference: torch.Tensor, sampler: PoseSampler, config: PriorSamplingConfig, seed: int,
                         similarity: SimilarityFn) -> dict:  # fmt: skip
    """The calibration an earlier run of this cache wrote, else a new one (written to ``folder``)."""
    path = folder / CALIBRATION_FILE
    if path.exists():
        return json.loads(path.read_text())
    calibration = calibrate(reference, sampler, config, seed, similarity)
    write_json(path, calibration, indent=2)
    return calibration


def sample_prior_cache(
    folder: str | Path,
    reference: torch.Tensor,
    prior: SyntheticPrior | PoseSampler,
    config: PriorSamplingConfig = PriorSamplingConfig(),
    *,
    seed: int = 0,
    similarity: SimilarityFn = image_similarity,
    progress: Progress | None = None,
) -> dict:
    """Fill ``folder`` with the pruned prior for the reference view ``reference`` (3, H, W) in [0, 1]; returns the report.
    ``prior`` is a :class:`SyntheticPrior` or any :class:`PoseSampler`.

    Resumes after the last complete chunk of an earlier run with the same arguments; ValueError
    when ``folder`` holds a cache of something else. ``progress(kept, samples)`` is called once
    at the start and after every pose tried; if it raises, the files already written stay valid and
    the exception propagates.
    """
    sampler = SyntheticSampler(prior) if isinstance(prior, SyntheticPrior) else prior
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    reference_bytes = _to_uint8(reference.detach().cpu()).numpy().tobytes()
    manifest = {
        "seed": seed,
        "source": sampler.name,
        "image_size": sampler.image_size,
        "reference_sha256": hashlib.sha256(reference_bytes).hexdigest(),
        "config": to_plain(config),
    }
    manifest_path = folder / "cache.json"
    if manifest_path.exists():
        if json.loads(manifest_path.read_text()) != json.loads(json.dumps(manifest)):
            raise ValueError(f"{folder} holds a prior cache of other settings; use an empty folder")
    else:
        write_json(manifest_path, manifest, indent=2)
    chunks = _chunk_count(config)
    first = _complete_chunks(folder, chunks)
    stats = [_read_stats(chunk_path(folder, c)) for c in range(first)]
    kept = sum(int((s["reasons"] == 0).sum()) for s in stats)

    def on_pose(kept_now: int) -> None:
        if progress is not None:
            progress(kept_now, config.samples)

    if progress is not None:
        progress(kept, config.samples)
    calibration = _settled_calibration(folder, reference, sampler, config, seed, similarity)
    cut = SimilarityCut(**{key: calibration[key] for key in ("median", "spread", "threshold", "poses")})
    write_json(folder / "report.json", summarise(stats, config, calibration), indent=2)
    for chunk in range(first, chunks):
        if summarise(stats, config)["complete"]:
            break
        tensors = _sample_chunk(chunk, kept, reference, sampler, config, seed, similarity, cut, on_pose)
        path = chunk_path(folder, chunk)
        with replacing(path) as temporary:
            save_file(tensors, str(temporary))
        stats.append({key: tensors[key] for key in SUMMARY_KEYS})
        kept += len(tensors["labels"])
        write_json(folder / "report.json", summarise(stats, config, calibration), indent=2)
    return summarise(stats, config, calibration)


def load_cache(folder: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The kept samples of the complete chunks in ``folder``: images (M, 3, H, W) float32 in [0, 1] and poses (M, 3)
    (elevation°, azimuth°, radius); FileNotFoundError when there is no cache."""
    folder = Path(folder)
    manifest = json.loads((folder / "cache.json").read_text())
    chunks = _chunk_count(from_plain(PriorSamplingConfig, manifest["config"]))
    tensors = [load_file(str(chunk_path(folder, c))) for c in range(_complete_chunks(folder, chunks))]
    if not tensors:
        side = manifest["image_size"]
        return torch.zeros(0, 3, side, side), torch.zeros(0, 3)
    return torch.cat([t["images"] for t in tensors]).float() / 255.0, torch.cat([t["poses"] for t in tensors])
