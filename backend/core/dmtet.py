"""DMTet: tetrahedral grids and differentiable marching tetrahedra.

A grid of resolution N splits [−½, ½]³ (times ``scale``) into N³ cubes and each
cube into 6 tetrahedra around its main diagonal (the Freudenthal/Kuhn
triangulation, which matches across neighbouring cubes): (N + 1)³ vertices,
6N³ tetrahedra — 196,608 at 32, 1,572,864 at 64, 12,582,912 at 128.

The SDF is negative inside. Surface vertices sit where the SDF crosses zero
along tet edges, linearly interpolated, so they are differentiable with
respect to the SDF values and the (possibly deformed) grid vertices; every
triangle faces from inside to outside.
"""

from __future__ import annotations

import torch

_EDGES = torch.tensor([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
_KUHN = torch.tensor([[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]])
"""The 6 tetrahedra of a unit cube; cube corner c is at ((c & 1), (c >> 1) & 1, (c >> 2) & 1)."""


def _triangle_table() -> torch.Tensor:
    """(16, 2, 3) local edge ids of up to two triangles per inside-vertex bit pattern (−1: none); winding fixed later."""
    edge_id = {tuple(e): i for i, e in enumerate(_EDGES.tolist())}

    def edge(a: int, b: int) -> int:
        return edge_id[(min(a, b), max(a, b))]

    table = torch.full((16, 2, 3), -1, dtype=torch.long)
    for code in range(16):
        inside = [i for i in range(4) if code >> i & 1]
        outside = [i for i in range(4) if not code >> i & 1]
        if len(inside) in (1, 3):
            lone = inside[0] if len(inside) == 1 else outside[0]
            table[code, 0] = torch.tensor([edge(lone, j) for j in range(4) if j != lone])
        elif len(inside) == 2:
            (a, b), (c, d) = inside, outside
            table[code, 0] = torch.tensor([edge(a, c), edge(a, d), edge(b, d)])
            table[code, 1] = torch.tensor([edge(a, c), edge(b, d), edge(b, c)])
    return table


_TRIANGLES = _triangle_table()


def tet_grid(resolution: int, scale: float = 1.0, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(vertices (V, 3), tets (T, 4))`` of a Kuhn grid filling ``[−scale/2, scale/2]³``."""
    n = resolution
    axis = torch.linspace(-0.5, 0.5, n + 1, device=device) * scale
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    vertices = torch.stack([x, y, z], dim=-1).reshape(-1, 3)
    i, j, k = torch.meshgrid(*(torch.arange(n, device=device),) * 3, indexing="ij")
    base = torch.stack([i.reshape(-1), j.reshape(-1), k.reshape(-1)], dim=-1)  # (n³, 3) cube origins
    corner = torch.tensor([[c & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)], device=device)
    ids = base[:, None, :] + corner  # (n³, 8, 3)
    corner_index = (ids[..., 0] * (n + 1) + ids[..., 1]) * (n + 1) + ids[..., 2]  # (n³, 8)
    tets = corner_index[:, _KUHN.to(device)].reshape(-1, 4)
    return vertices, tets


def sdf_from_density(density: torch.Tensor, threshold: float) -> torch.Tensor:
    """An SDF-like field (negative inside) from a density field: the iso-level ``threshold`` becomes zero."""
    return threshold - density


def marching_tetrahedra(vertices: torch.Tensor, tets: torch.Tensor, sdf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface ``(vertices (M, 3), faces (F, 3))`` of the zero level set of ``sdf`` (V,) over ``tets`` (T, 4)."""
    inside = sdf < 0
    count = inside[tets].sum(dim=1)
    tets = tets[(count > 0) & (count < 4)]
    if tets.shape[0] == 0:
        return vertices.new_zeros(0, 3), torch.zeros(0, 3, dtype=torch.long, device=vertices.device)
    edges = tets[:, _EDGES.to(tets.device)]  # (Tv, 6, 2)
    edges = torch.sort(edges, dim=-1).values
    crossing = inside[edges[..., 0]] != inside[edges[..., 1]]  # (Tv, 6)
    unique, index = torch.unique(edges[crossing], dim=0, return_inverse=True)
    edge_vertex = torch.full(crossing.shape, -1, dtype=torch.long, device=tets.device)
    edge_vertex[crossing] = index
    s0, s1 = sdf[unique[:, 0]], sdf[unique[:, 1]]
    weight = (s0 / (s0 - s1))[:, None]
    surface = vertices[unique[:, 0]] + weight * (vertices[unique[:, 1]] - vertices[unique[:, 0]])
    code = (inside[tets].long() * torch.tensor([1, 2, 4, 8], device=tets.device)).sum(dim=1)
    local = _TRIANGLES.to(tets.device)[code]  # (Tv, 2, 3)
    present = local[..., 0] >= 0
    faces = torch.gather(edge_vertex[:, None, :].expand(-1, 2, -1), 2, local.clamp_min(0))[present]  # (F, 3)
    tet_of_face = torch.arange(tets.shape[0], device=tets.device)[:, None].expand(-1, 2)[present]
    faces = _orient(faces, surface.detach(), vertices.detach(), tets[tet_of_face], inside[tets[tet_of_face]])
    return surface, faces


def _orient(faces: torch.Tensor, surface: torch.Tensor, vertices: torch.Tensor, tets: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Flip triangles whose normal points from outside to inside of their tetrahedron."""
    corners = vertices[tets]  # (F, 4, 3)
    weights_in = inside.float()
    centre_in = (corners * weights_in[..., None]).sum(1) / weights_in.sum(1, keepdim=True)
    centre_out = (corners * (1 - weights_in)[..., None]).sum(1) / (1 - weights_in).sum(1, keepdim=True)
    a, b, c = surface[faces[:, 0]], surface[faces[:, 1]], surface[faces[:, 2]]
    normal = torch.linalg.cross(b - a, c - a)
    wrong = (normal * (centre_out - centre_in)).sum(dim=-1) < 0
    return torch.where(wrong[:, None], faces[:, [0, 2, 1]], faces)

