"""Differentiable triangle rasterisation, in plain PyTorch (nvdiffrast behind the same interface on CUDA).

Input vertices are in clip space (B, V, 4) (use :func:`to_clip`); faces (F, 3).
Image rows run top to bottom: pixel (u, v) has its centre at NDC
x = 2(u + ½)/W − 1, y = 1 − 2(v + ½)/H. A pixel belongs to the nearest
triangle (smallest z/w) whose screen-space triangle contains its centre;
triangles with a vertex behind the eye (w ≤ 0) are skipped (no near clipping).

Which triangle covers a pixel is discrete; the barycentrics, the depth and
everything interpolated from them are differentiable with respect to the
vertex positions and the attributes. The hard coverage has no silhouette-edge
gradients; :func:`soft_coverage` antialiases it across silhouette edges (as
nvdiffrast's antialias does an image), which gives them, on either backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import cameras


@dataclass
class Raster:
    triangle: torch.Tensor
    """(B, H, W) int64 face index, −1 where no triangle covers the pixel."""
    bary: torch.Tensor
    """(B, H, W, 3) perspective-correct barycentrics of the face's three vertices (0 where empty)."""
    depth: torch.Tensor
    """(B, H, W) NDC depth z/w in [−1, 1] (1 where empty)."""

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool coverage."""
        return self.triangle >= 0


def to_clip(vertices: torch.Tensor, c2w: torch.Tensor, fov_deg: float, width: int, height: int, near: float = 0.01, far: float = 100.0) -> torch.Tensor:
    """World vertices (V, 3) seen by cameras ``c2w`` (B, 4, 4) → clip coordinates (B, V, 4)."""
    projection = cameras.perspective(fov_deg, width / height, near, far).to(vertices)
    homogeneous = torch.cat([vertices, torch.ones_like(vertices[:, :1])], dim=-1)
    view = torch.linalg.inv(c2w.to(vertices))
    return homogeneous @ (projection @ view).transpose(-1, -2)


def _screen(clip: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(…, 4) clip → (…, 3) screen x (pixels), y (pixels, down), z/w."""
    inv_w = 1.0 / clip[..., 3:4]
    ndc = clip[..., :3] * inv_w
    return torch.stack([(ndc[..., 0] + 1) * 0.5 * width, (1 - ndc[..., 1]) * 0.5 * height, ndc[..., 2]], dim=-1)


def _edge_weights(tri: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Screen-space barycentrics (P, 3) of points (P,) in triangles ``tri`` (P, 3, ≥2)."""
    x0, y0, x1, y1, x2, y2 = tri[:, 0, 0], tri[:, 0, 1], tri[:, 1, 0], tri[:, 1, 1], tri[:, 2, 0], tri[:, 2, 1]
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    w0 = (x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)
    w1 = (x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)
    w2 = (x0 - px) * (y1 - py) - (x1 - px) * (y0 - py)
    return torch.stack([w0, w1, w2], dim=-1) / area[:, None]


def _plane_coefficients(tri: torch.Tensor, u0: torch.Tensor, v0: torch.Tensor) -> torch.Tensor:
    """Per face (F, 12): the three barycentric planes and the z/w plane as a·x + b·y + c.

    Coordinates are taken relative to each face's bounding-box corner (u0, v0), so the
    constants stay small and float32 stays exact near edges.
    """
    x = tri[..., 0] - u0[:, None]
    y = tri[..., 1] - v0[:, None]
    x0, x1, x2 = x.unbind(1)
    y0, y1, y2 = y.unbind(1)
    inv = 1.0 / ((x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0))  # callers pass non-degenerate faces only
    a = torch.stack([y1 - y2, y2 - y0, y0 - y1], dim=1) * inv[:, None]
    b = torch.stack([x2 - x1, x0 - x2, x1 - x0], dim=1) * inv[:, None]
    c = torch.stack([x1 * y2 - x2 * y1, x2 * y0 - x0 * y2, x0 * y1 - x1 * y0], dim=1) * inv[:, None]
    z = tri[..., 2]
    planes = torch.stack([a, b, c], dim=2).reshape(-1, 9)
    depth = torch.stack([(a * z).sum(1), (b * z).sum(1), (c * z).sum(1)], dim=1)
    return torch.cat([planes, depth], dim=1)


def _cover(screen: torch.Tensor, faces: torch.Tensor, height: int, width: int, max_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest face and its depth per pixel (H·W,) for one image, without gradients."""
    tri = screen[faces]  # (F, 3, 3)
    finite = torch.isfinite(tri).all(dim=(1, 2))
    tri = torch.where(finite[:, None, None], tri, torch.zeros_like(tri))
    xs, ys = tri[..., 0], tri[..., 1]
    area = (xs[:, 1] - xs[:, 0]) * (ys[:, 2] - ys[:, 0]) - (xs[:, 2] - xs[:, 0]) * (ys[:, 1] - ys[:, 0])
    valid = finite & (area.abs() > 1e-12)  # degenerate triangles cover nothing
    u0 = torch.ceil(xs.amin(dim=1) - 0.5).clamp(0, width - 1)
    u1 = torch.floor(xs.amax(dim=1) - 0.5).clamp(-1, width - 1)
    v0 = torch.ceil(ys.amin(dim=1) - 0.5).clamp(0, height - 1)
    v1 = torch.floor(ys.amax(dim=1) - 0.5).clamp(-1, height - 1)
    spans_u = (u1 - u0 + 1).clamp_min(0).long()
    spans_v = (v1 - v0 + 1).clamp_min(0).long()
    counts = torch.where(valid, spans_u * spans_v, torch.zeros_like(spans_u))
    best_depth = torch.full((height * width,), float("inf"), device=screen.device, dtype=screen.dtype)
    best_face = torch.full((height * width,), -1, dtype=torch.long, device=screen.device)
    candidates = torch.nonzero(counts).squeeze(1)
    if candidates.numel() == 0:
        return best_face, best_depth
    coefficients = _plane_coefficients(tri[candidates], u0[candidates], v0[candidates])
    spans_u, spans_v, u0, v0 = spans_u[candidates], spans_v[candidates], u0[candidates].long(), v0[candidates].long()
    # one entry per (face, bounding-box row), processed in chunks of about max_pairs pixels
    ends = torch.cumsum(counts[candidates], dim=0)
    start = 0
    while start < candidates.numel():
        stop = max(int(torch.searchsorted(ends, ends[start] - counts[candidates[start]] + max_pairs, right=True)), start + 1)
        row_face = torch.repeat_interleave(torch.arange(start, stop, device=screen.device), spans_v[start:stop])
        first_row = torch.cumsum(spans_v[start:stop], dim=0) - spans_v[start:stop]
        dv = torch.arange(row_face.numel(), device=screen.device) - torch.repeat_interleave(first_row, spans_v[start:stop])
        lo, hi = _row_spans(coefficients[row_face], (dv + 0.5).to(screen.dtype), spans_u[row_face])
        lengths = (hi - lo + 1).clamp_min(0)
        pair_row = torch.repeat_interleave(torch.arange(row_face.numel(), device=screen.device), lengths)
        first = torch.cumsum(lengths, dim=0) - lengths
        du = lo[pair_row] + torch.arange(pair_row.numel(), device=screen.device) - first[pair_row]
        pair_face, pair_dv = row_face[pair_row], dv[pair_row]
        c = coefficients[pair_face]
        depth = c[:, 9] * (du + 0.5) + c[:, 10] * (pair_dv + 0.5) + c[:, 11]
        near = (depth >= -1.0) & (depth <= 1.0)
        key = ((v0[pair_face] + pair_dv) * width + u0[pair_face] + du)[near]
        depth, face_of_pair = depth[near], candidates[pair_face[near]]
        chunk_depth = torch.full_like(best_depth, float("inf")).scatter_reduce(0, key, depth, "amin")
        winners = depth == chunk_depth[key]
        chunk_face = torch.full_like(best_face, -1).scatter_reduce(0, key[winners], face_of_pair[winners], "amax")
        closer = chunk_depth < best_depth
        best_depth = torch.where(closer, chunk_depth, best_depth)
        best_face = torch.where(closer, chunk_face, best_face)
        start = stop
    return best_face, best_depth


def _row_spans(c: torch.Tensor, py: torch.Tensor, span_u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last pixel column (relative to the bounding box) whose centre is inside each face on each row.

    ``c`` (N, 12) plane coefficients, ``py`` (N,) row centres; a centre is inside when all three
    barycentric planes are ≥ −1e−6 there (each plane bounds the column from one side).
    """
    slope = c[:, 0:9:3]
    offset = c[:, 1:9:3] * py[:, None] + c[:, 2:9:3] + 1e-6
    bound = -offset / torch.where(slope == 0, torch.ones_like(slope), slope)
    inf = torch.full_like(bound, float("inf"))
    lower = torch.where(slope > 0, bound, -inf).amax(dim=1)
    upper = torch.where(slope < 0, bound, inf).amin(dim=1)
    flat_outside = ((slope == 0) & (offset < 0)).any(dim=1)
    lo = torch.ceil(lower - 0.5).clamp(min=0)
    hi = torch.minimum(torch.floor(upper - 0.5), (span_u - 1).to(upper.dtype))
    hi = torch.where(flat_outside, lo - 1, hi)
    return lo.long(), hi.long()


def rasterize_torch(clip: torch.Tensor, faces: torch.Tensor, height: int, width: int, max_pairs: int = 1 << 22) -> Raster:
    """Plain-PyTorch rasterisation of clip-space vertices (B, V, 4) and faces (F, 3); see the module doc."""
    faces = faces.long()
    batch = clip.shape[0]
    screen = _screen(clip, width, height)  # differentiable
    screen_detached = screen.detach().masked_fill((clip[..., 3:4] <= 1e-8).detach(), float("nan"))
    triangle = torch.empty(batch, height * width, dtype=torch.long, device=clip.device)
    bary = clip.new_zeros(batch, height * width, 3)
    depth = clip.new_ones(batch, height * width)
    v_grid, u_grid = torch.meshgrid(torch.arange(height, device=clip.device), torch.arange(width, device=clip.device), indexing="ij")
    centres = torch.stack([u_grid.reshape(-1) + 0.5, v_grid.reshape(-1) + 0.5], dim=-1).to(clip.dtype)
    for b in range(batch):
        face, _ = _cover(screen_detached[b], faces, height, width, max_pairs)
        triangle[b] = face
        covered = torch.nonzero(face >= 0).squeeze(1)
        if covered.numel() == 0:
            continue
        corners = faces[face[covered]]  # (P, 3)
        tri_screen = screen[b][corners]  # (P, 3, 3), differentiable
        linear = _edge_weights(tri_screen, centres[covered, 0], centres[covered, 1])
        inv_w = 1.0 / clip[b, :, 3][corners]
        perspective = linear * inv_w
        bary[b, covered] = perspective / perspective.sum(dim=-1, keepdim=True)
        depth[b, covered] = (linear * tri_screen[..., 2]).sum(dim=-1)
    return Raster(triangle.reshape(batch, height, width), bary.reshape(batch, height, width, 3), depth.reshape(batch, height, width))


def _nvdiffrast():
    try:
        import nvdiffrast.torch as dr
    except ImportError:
        return None
    return dr


_contexts: dict[str, object] = {}


def rasterize_nvdiffrast(clip: torch.Tensor, faces: torch.Tensor, height: int, width: int) -> Raster:
    """The same :class:`Raster` from nvdiffrast (CUDA), rows flipped to run top to bottom."""
    dr = _nvdiffrast()
    key = str(clip.device)
    if key not in _contexts:
        _contexts[key] = dr.RasterizeCudaContext(device=clip.device)
    rast, _ = dr.rasterize(_contexts[key], clip.contiguous(), faces.int().contiguous(), (height, width))
    rast = rast.flip(1)
    triangle = rast[..., 3].long() - 1
    u, v = rast[..., 0], rast[..., 1]
    bary = torch.stack([u, v, 1 - u - v], dim=-1) * (triangle >= 0)[..., None]
    depth = torch.where(triangle >= 0, rast[..., 2], torch.ones_like(rast[..., 2]))
    return Raster(triangle, bary, depth)


def rasterize(clip: torch.Tensor, faces: torch.Tensor, height: int, width: int, backend: str = "auto") -> Raster:
    """Rasterise with nvdiffrast when ``backend`` is ``auto`` on CUDA and it is importable, else in plain PyTorch."""
    if backend == "nvdiffrast" or (backend == "auto" and clip.is_cuda and _nvdiffrast() is not None):
        return rasterize_nvdiffrast(clip, faces, height, width)
    return rasterize_torch(clip, faces, height, width)


NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0))
"""(row, column) steps to a pixel's four neighbours."""


def silhouette_edges(screen: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(F, 3) bool: whether the edge of each face opposite its vertex i (vertices i + 1, i + 2) is a silhouette edge in
    the screen-space vertices ``screen`` (V, ≥2): on the mesh's border, or between faces facing opposite ways."""
    edges = torch.stack([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]], dim=1).reshape(-1, 2)
    _, inverse = torch.unique(torch.sort(edges, dim=1).values, dim=0, return_inverse=True)
    tri = screen.detach()[faces]
    area = (tri[:, 1, 0] - tri[:, 0, 0]) * (tri[:, 2, 1] - tri[:, 0, 1]) - (tri[:, 2, 0] - tri[:, 0, 0]) * (tri[:, 1, 1] - tri[:, 0, 1])
    facing = area.repeat_interleave(3)
    counts = torch.zeros(int(inverse.max()) + 1 if inverse.numel() else 0, 3, device=screen.device)
    counts.index_add_(0, inverse, torch.stack([torch.ones_like(facing), (facing > 0).float(), (facing < 0).float()], dim=-1))
    silhouette = (counts[:, 0] == 1) | ((counts[:, 1] > 0) & (counts[:, 2] > 0))
    return silhouette[inverse].reshape(-1, 3)


def soft_coverage(clip: torch.Tensor, faces: torch.Tensor, raster: Raster) -> torch.Tensor:
    """(B, H, W) coverage in [0, 1] of ``raster`` (from clip vertices (B, V, 4) and faces (F, 3)), antialiased across
    silhouette edges and differentiable with respect to their vertices.

    For each pixel p covered by face f next to an empty pixel q (horizontally or vertically), the segment between their
    centres leaves f's screen-space triangle at a fraction α of the pixel spacing from p (the first edge whose linear edge
    function turns negative, so α moves with the edge's vertices). When that edge is a silhouette edge
    (:func:`silhouette_edges`), as in nvdiffrast's antialias, an edge beyond the midpoint (α > ½) covers α − ½ of q and
    one before it uncovers ½ − α of p: along a straight silhouette the summed coverage is the covered area. Pairs whose
    segment leaves f through an inner edge are left alone. Pixels are otherwise 1 (covered) or 0; sums are clamped to [0, 1].
    """
    faces = faces.long()
    batch, height, width = raster.triangle.shape
    screen = _screen(clip, width, height)  # (B, V, 3), differentiable
    covered = raster.triangle >= 0
    coverage = covered.to(clip.dtype)
    rows, columns = torch.meshgrid(torch.arange(height, device=clip.device), torch.arange(width, device=clip.device), indexing="ij")
    out = []
    for b in range(batch):
        silhouette = silhouette_edges(screen[b], faces)
        change = torch.zeros(height * width, device=clip.device, dtype=clip.dtype)
        for dv, du in NEIGHBOURS:
            v, u = rows + dv, columns + du
            inside = (v >= 0) & (v < height) & (u >= 0) & (u < width)
            vq, uq = v.clamp(0, height - 1), u.clamp(0, width - 1)
            pair = inside & covered[b] & ~covered[b, vq, uq]
            p = torch.nonzero(pair.reshape(-1)).squeeze(1)
            if p.numel() == 0:
                continue
            q = (vq.reshape(-1) * width + uq.reshape(-1))[p]
            face = raster.triangle[b].reshape(-1)[p]
            tri = screen[b][faces[face]]  # (P, 3, 3)
            centre_p = torch.stack([columns.reshape(-1)[p], rows.reshape(-1)[p]], dim=-1).to(clip.dtype) + 0.5
            centre_q = centre_p + torch.tensor([du, dv], device=clip.device, dtype=clip.dtype)
            at_p = _edge_weights(tri, centre_p[:, 0], centre_p[:, 1])
            at_q = _edge_weights(tri, centre_q[:, 0], centre_q[:, 1])
            leaving = at_q < 0
            fraction = torch.where(leaving, at_p / torch.where(leaving, at_p - at_q, torch.ones_like(at_q)), torch.full_like(at_p, float("inf")))
            alpha, edge = fraction.min(dim=-1)
            # no leaving edge: q inside f in screen space (f clipped there); an inner edge: the surface goes on beyond it
            crossing = torch.isfinite(alpha) & silhouette[face, edge]
            alpha = torch.where(crossing, alpha, torch.full_like(alpha, 0.5)).clamp(0.0, 1.0)
            change = change.index_add(0, q, (alpha - 0.5).clamp_min(0.0)).index_add(0, p, -(0.5 - alpha).clamp_min(0.0))
        out.append((coverage[b].reshape(-1) + change).clamp(0.0, 1.0).reshape(height, width))
    return torch.stack(out)


def interpolate(attributes: torch.Tensor, raster: Raster, faces: torch.Tensor) -> torch.Tensor:
    """Per-pixel attributes (B, H, W, C) from per-vertex ``attributes`` (V, C) or (B, V, C); 0 where empty."""
    batch, height, width = raster.triangle.shape
    if attributes.dim() == 2:
        attributes = attributes.expand(batch, *attributes.shape)
    faces = faces.long()
    out = attributes.new_zeros(batch, height * width, attributes.shape[-1])
    for b in range(batch):
        triangle = raster.triangle[b].reshape(-1)
        covered = torch.nonzero(triangle >= 0).squeeze(1)
        corners = faces[triangle[covered]]  # (P, 3)
        weights = raster.bary[b].reshape(-1, 3)[covered]
        out[b, covered] = (attributes[b][corners] * weights[..., None]).sum(dim=1)
    return out.reshape(batch, height, width, -1)
