"""The contract between a method and the server that runs it (``MethodError`` is the engine's, re-exported here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from protocol.messages import Camera

from ..core.glb import GLB_MEDIA_TYPE, MESH_ITEM, TEXTURE_ITEM, MeshAsset
from ..engine.errors import MethodError
from ..generators import Catalog
from .progress import ProgressReporter

__all__ = ["JobContext", "JobInputs", "JobResult", "Method", "MethodError", "ResultFile"]


@dataclass(frozen=True)
class JobInputs:
    """What the artist gave, validated by the server before the job was queued."""

    prompt: str
    """Text prompt (may be empty for image-only methods)."""
    negative_prompt: str
    """Negative prompt."""
    seed: int
    """Random seed, chosen by the server when the client gave none."""
    camera: Camera | None
    """Camera of the input image, in the backend's convention."""
    image: Any | None
    """Input image as a PIL ``Image`` in RGBA mode, or None."""
    arrays: dict[str, Any] = field(default_factory=dict)
    """Named input arrays (numpy), as the client sent them."""


@dataclass
class JobContext:
    """Where and how a job runs."""

    job_id: str
    """The job's id (for logs)."""
    device: str
    """Torch device string the worker was given: ``cpu`` or ``cuda:N``."""
    work_dir: Path
    """Scratch space kept with the job (checkpoints to resume from)."""
    reporter: ProgressReporter
    """Progress, previews and cancellation; call it at every step."""
    generator_dir: Path
    """Where this job saves a 3D generator it makes (the job store's place for it: job ids name it afterwards)."""
    generators: Catalog = field(default_factory=Catalog)
    """What generator specs can name: the methods' generator kinds and shipped generators, and other jobs' generators
    by job id (the job store answers those)."""


@dataclass(frozen=True)
class ResultFile:
    data: bytes
    """The file's bytes."""
    media_type: str
    """MIME type, e.g. ``model/gltf-binary``."""


@dataclass
class JobResult:
    """What a method returns; the server stores it and clients fetch it in chunks."""

    arrays: dict[str, Any] = field(default_factory=dict)
    """Name → numpy array (float32 positions/normals/uvs, int32 faces, uint8 vertex colours, …)."""
    files: dict[str, ResultFile] = field(default_factory=dict)
    """Name → file (the GLB, the texture image, …)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Plain facts about the result (counts, timings, metrics)."""

    def add_mesh(self, asset: MeshAsset, prefix: str = "", glb: bool = True, image_format: str = "PNG") -> None:
        """Add one mesh under ``prefix`` (``""``, or ``v0.`` … for several): its geometry arrays, its texture
        once as ``texture.png``, and (when ``glb``) ``mesh.glb``, which embeds the same encoded texture."""
        self.arrays.update({prefix + name: array for name, array in asset.arrays().items() if name != "texture"})
        if asset.texture is not None:
            self.files[prefix + TEXTURE_ITEM] = ResultFile(asset.encoded_texture("PNG"), "image/png")
        if glb:
            self.files[prefix + MESH_ITEM] = ResultFile(asset.to_glb(image_format), GLB_MEDIA_TYPE)


class Method(Protocol):
    """A generation method as the worker calls it."""

    def run(self, inputs: JobInputs, config: Any, context: JobContext) -> JobResult:
        """Generate; call ``context.reporter.progress`` every step (it raises :class:`JobCancelled`)."""
        ...
