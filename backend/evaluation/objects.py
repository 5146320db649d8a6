"""What the evaluations compare: object specs → ground truth, and meshes as renderable objects.

An object spec is a GLB file (``chair.glb``), or a member of a synthetic family, ``NAME[@SEED]``: the family is
:func:`backend.teachers.synthetic.families.family` ``(NAME)`` — a built-in name (``snowman``) or whatever else that
function accepts (such as ``random:7``) — and the member is ``family.sample(torch.Generator().manual_seed(SEED))``,
SEED defaulting to the command's ``--seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..core.frame import Frame
from ..core.glb import MeshAsset
from ..teachers.synthetic.render import MeshObject

SCENE_RESOLUTION = 96
"""Marching-cubes resolution of a procedural family member's ground-truth mesh (the synthetic world's own GLB export's)."""
SCENE_FACES = 20_000
"""Face budget of that mesh."""


class EvaluationError(ValueError):
    """Bad input to an evaluation (a missing or broken file, an unknown family); the message says which."""


@dataclass(frozen=True)
class ObjectSpec:
    """One object to evaluate on."""

    text: str
    """The spec as given (the table's row label)."""
    family: str | None
    """The family name passed to ``family()``, or None for a GLB file."""
    seed: int
    """Which member of the family (unused for a file)."""
    path: Path | None
    """The GLB file, or None for a family member."""


def parse_object(text: str, default_seed: int = 0) -> ObjectSpec:
    """``OBJECT.glb`` (an existing file, or any name ending in .glb) or ``NAME[@SEED]``."""
    text = text.strip()
    if not text:
        raise EvaluationError("an empty object spec")
    path = Path(text).expanduser()
    if text.lower().endswith(".glb") or path.is_file():
        return ObjectSpec(text, None, default_seed, path)
    name, at, seed = text.rpartition("@")
    if not at:
        return ObjectSpec(text, text, default_seed, None)
    try:
        return ObjectSpec(text, name, int(seed), None)
    except ValueError:
        raise EvaluationError(f"object {text!r}: the part after '@' must be a seed (an integer)") from None


def family_of(name: str):
    """``family(name)``, its ValueError turned into :class:`EvaluationError`."""
    from ..teachers.synthetic.families import family

    try:
        return family(name)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None


def read_glb(path: Path | str) -> bytes:
    """The bytes of a GLB file; :class:`EvaluationError` when it is missing or not a file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    return path.read_bytes()


def load_mesh(source: Path | str | bytes, name: str = "mesh") -> MeshObject:
    """A GLB (path or bytes) as a :class:`MeshObject`; :class:`EvaluationError` when it is missing or broken."""
    data = read_glb(source) if not isinstance(source, bytes) else source
    label = name if isinstance(source, bytes) else str(source)
    if data[:4] != b"glTF":
        raise EvaluationError(f"{label}: not a GLB file (it does not start with 'glTF')")
    try:
        mesh = MeshObject.from_glb(data)
    except ValueError as exc:
        raise EvaluationError(f"{label}: {exc}") from None
    return replace(mesh, name=Path(label).stem if not isinstance(source, bytes) else name)


def truth_glb(spec: ObjectSpec) -> bytes:
    """The ground truth of ``spec`` as GLB bytes: the file, or the family member through the synthetic world's GLB export
    (what DTC123's synthetic teacher is given as its target)."""
    from ..teachers.synthetic.glb_io import export_scene

    if spec.path is not None:
        return read_glb(spec.path)
    member = family_of(spec.family).sample(torch.Generator().manual_seed(spec.seed))
    return export_scene(member)[1]


def mesh_object(asset: MeshAsset, name: str = "mesh") -> MeshObject:
    """A :class:`MeshAsset` (a method's result, a generator's sample) as a renderable :class:`MeshObject`."""
    positions = torch.from_numpy(np.asarray(asset.positions, np.float32))
    faces = torch.from_numpy(np.asarray(asset.faces, np.int64))
    if asset.texture is not None and asset.uvs is not None:
        texture = torch.from_numpy(np.asarray(asset.texture, np.float32) / 255.0)
        return MeshObject(positions, faces, uvs=torch.from_numpy(np.asarray(asset.uvs, np.float32)), texture=texture, name=name)
    if asset.colors is not None:
        return MeshObject(positions, faces, colors=torch.from_numpy(np.asarray(asset.colors[:, :3], np.float32) / 255.0), name=name)
    return MeshObject(positions, faces, name=name)


def scene_mesh(scene, resolution: int = SCENE_RESOLUTION, name: str | None = None) -> MeshObject:
    """A procedural :class:`~backend.teachers.synthetic.shapes.Scene` as a vertex-coloured mesh: marching cubes of its SDF
    (the closed surface of the union of its parts) coloured by its albedo."""
    from ..core.export import ExportConfig, extract_surface, vertex_colored_asset

    lo, hi = scene.bounds()
    margin = 0.05 * float(np.max(hi - lo)) + 0.02
    box = (float(lo.min()) - margin, float(hi.max()) + margin)
    vertices, faces = extract_surface(scene.sdf, box, ExportConfig(resolution=resolution, target_faces=SCENE_FACES, inside="negative", level=0.0))
    return mesh_object(vertex_colored_asset(vertices, faces, scene.albedo), name or scene.name)


def in_frame(mesh: MeshObject, frame: Frame) -> MeshObject:
    """``mesh`` with its positions taken from the object frame into ``frame``'s reconstruction frame."""
    return replace(mesh, positions=frame.tensor_to_reconstruction(mesh.positions))


def arrays(mesh: MeshObject) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (V, 3) float64, faces (F, 3) int64)`` of ``mesh``."""
    return mesh.positions.double().numpy(), mesh.faces.numpy()
