"""Ground-truth renders of synthetic objects with the core rasteriser: rgb, mask, depth, normals.

Two kinds of object share one protocol (:class:`SyntheticObject`): procedural
:class:`~.shapes.Scene` s, whose patterns are evaluated per pixel in each part's local
frame (crisp stripes at any resolution), and :class:`MeshObject` s loaded from GLB.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from backend.core.mesh_ops import winding_number
from backend.core.mesh_render import MeshRender, face_normals, render_mesh, shade
from backend.core.raster import interpolate, rasterize, to_clip

from .shapes import Scene, unit_mesh

class SyntheticObject(Protocol):
    name: str

    def render(self, c2w: torch.Tensor, fov_deg: float, width: int, height: int, shaded: bool = False, background: float = 1.0) -> MeshRender:
        """Render from cameras ``c2w`` (B, 4, 4)."""


@dataclass(frozen=True)
class SceneMesh:
    """A scene's parts tessellated into one mesh."""

    positions: torch.Tensor
    """(V, 3) world positions."""
    local: torch.Tensor
    """(V, 3) each vertex's coordinates in its part's local frame."""
    faces: torch.Tensor
    """(F, 3) int64."""
    face_part: torch.Tensor
    """(F,) index of the part each face belongs to."""


def tessellate(scene: Scene) -> SceneMesh:
    """One mesh for all parts of ``scene``."""
    positions, local, faces, face_part, offset = [], [], [], [], 0
    for index, part in enumerate(scene.parts):
        vertices, triangles = unit_mesh(part.shape)
        positions.append(part.to_world(vertices))
        local.append(vertices)
        faces.append(triangles + offset)
        face_part.append(np.full(len(triangles), index))
        offset += len(vertices)
    return SceneMesh(
        positions=torch.from_numpy(np.concatenate(positions)).float(),
        local=torch.from_numpy(np.concatenate(local)).float(),
        faces=torch.from_numpy(np.concatenate(faces)),
        face_part=torch.from_numpy(np.concatenate(face_part)),
    )


def render_scene(
    scene: Scene, c2w: torch.Tensor, fov_deg: float, width: int, height: int, shaded: bool = False, background: float = 1.0
) -> MeshRender:
    """Render ``scene`` from cameras ``c2w`` (B, 4, 4) at width × height; patterns per pixel."""
    mesh = tessellate(scene)
    c2w = c2w.float()
    raster = rasterize(to_clip(mesh.positions, c2w, fov_deg, width, height), mesh.faces, height, width, backend="torch")
    mask = raster.mask.float()
    local = interpolate(mesh.local, raster, mesh.faces)
    triangle = raster.triangle.clamp_min(0)
    part_of_pixel = mesh.face_part[triangle]
    albedo = torch.zeros(*triangle.shape, 3)
    for index, part in enumerate(scene.parts):
        chosen = raster.mask & (part_of_pixel == index)
        if chosen.any():
            albedo[chosen] = part.albedo(local[chosen])
    normals = face_normals(mesh.positions, mesh.faces)[triangle] * mask[..., None]
    rgb = shade(albedo, normals, c2w) if shaded else albedo
    rgb = rgb * mask[..., None] + background * (1.0 - mask[..., None])
    points = interpolate(mesh.positions, raster, mesh.faces)
    depth = ((points - c2w[:, None, None, :3, 3]) * -c2w[:, None, None, :3, 2]).sum(dim=-1) * mask
    return MeshRender(rgb=rgb, mask=mask, depth=depth, normals=normals)


@dataclass(frozen=True)
class SceneObject:
    """A procedural scene as a :class:`SyntheticObject`."""

    scene: Scene
    """The procedural scene rendered."""

    @property
    def name(self) -> str:
        return self.scene.name

    def render(self, c2w: torch.Tensor, fov_deg: float, width: int, height: int, shaded: bool = False, background: float = 1.0) -> MeshRender:
        return render_scene(self.scene, c2w, fov_deg, width, height, shaded, background)

    def occupancy(self, points: torch.Tensor) -> torch.Tensor:
        """(N,) bool inside the scene at world points (N, 3)."""
        return self.scene.occupancy(points)


@dataclass(frozen=True)
class MeshObject:
    """A triangle mesh with a texture or vertex colours (e.g. loaded from a GLB) as a :class:`SyntheticObject`."""

    positions: torch.Tensor
    """(V, 3) float32 world positions (+Y up)."""
    faces: torch.Tensor
    """(F, 3) int64."""
    colors: torch.Tensor | None = None
    """(V, 3) float colours in [0, 1], when there is no texture."""
    uvs: torch.Tensor | None = None
    """(V, 2) texture coordinates (v up)."""
    texture: torch.Tensor | None = None
    """(S, S, 3) float texture in [0, 1], row 0 on top."""
    name: str = "mesh"
    """A label (the GLB's file name)."""

    def render(self, c2w: torch.Tensor, fov_deg: float, width: int, height: int, shaded: bool = False, background: float = 1.0) -> MeshRender:
        out = render_mesh(
            self.positions, self.faces, c2w.float(), fov_deg, width, height,
            colors=self.colors, uvs=self.uvs, texture=self.texture, background=0.0, backend="torch",
        )
        rgb = shade(out.rgb, out.normals, c2w.float()) if shaded else out.rgb
        out.rgb = rgb * out.mask[..., None] + background * (1.0 - out.mask[..., None])
        return out

    def occupancy(self, points: torch.Tensor) -> torch.Tensor:
        """(N,) bool inside the mesh at world points (N, 3) (generalised winding number > ½)."""
        winding = winding_number(points.detach().cpu().numpy(), self.positions.numpy(), self.faces.numpy())
        return torch.from_numpy(winding > 0.5)

    @classmethod
    def from_glb(cls, source: str | Path | bytes) -> "MeshObject":
        """Load a GLB (path or bytes): all meshes merged; base-colour texture (times its factor), else vertex colours,
        else the material's base-colour factor, else grey."""
        import trimesh

        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        name = "glb" if isinstance(source, bytes) else Path(source).stem
        try:
            loaded = trimesh.load(io.BytesIO(data), file_type="glb", force="mesh", process=False)
        except Exception as exc:  # trimesh raises many kinds on malformed files
            raise ValueError(f"cannot read GLB {name!r}: {exc}") from None
        if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
            raise ValueError(f"GLB {name!r} holds no triangles")
        positions = torch.from_numpy(np.asarray(loaded.vertices, dtype=np.float32))
        faces = torch.from_numpy(np.asarray(loaded.faces, dtype=np.int64))
        visual = loaded.visual
        material = getattr(visual, "material", None)
        factor = _base_color_factor(material)
        texture_image = getattr(material, "baseColorTexture", None)
        if getattr(visual, "uv", None) is not None and texture_image is not None:
            texture = torch.from_numpy(np.asarray(texture_image.convert("RGB"), dtype=np.float32) / 255.0) * factor
            uvs = torch.from_numpy(np.asarray(visual.uv, dtype=np.float32))
            return cls(positions, faces, uvs=uvs, texture=texture, name=name)
        if visual.kind == "vertex":
            colors = torch.from_numpy(np.asarray(visual.vertex_colors[:, :3], dtype=np.float32) / 255.0)
            return cls(positions, faces, colors=colors, name=name)
        if material is not None and getattr(material, "baseColorFactor", None) is not None:
            return cls(positions, faces, colors=factor.expand(len(positions), 3).clone(), name=name)
        return cls(positions, faces, colors=torch.full_like(positions, 0.7), name=name)


def _base_color_factor(material) -> torch.Tensor:
    """The glTF baseColorFactor's RGB (3,) in [0, 1] (trimesh stores it as 0–255 or 0–1), 1 when there is none."""
    factor = getattr(material, "baseColorFactor", None)
    if factor is None:
        return torch.ones(3)
    rgb = np.asarray(factor, dtype=np.float32)[:3]
    return torch.from_numpy(rgb / 255.0 if np.asarray(factor).dtype == np.uint8 or rgb.max() > 1.0 else rgb)
