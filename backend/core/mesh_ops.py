"""Mesh cleanup, decimation and normals on plain arrays (vertices (V, 3) float32, faces (F, 3) int32)."""

from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph


def area_weighted_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals (V, 3), the area-weighted average of the adjacent face normals."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    face_normals = np.cross(b - a, c - a)  # length = 2 × area
    normals = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(normals, faces[:, i], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-20)).astype(np.float32)


def remove_degenerate(vertices: np.ndarray, faces: np.ndarray, min_area: float = 1e-12) -> np.ndarray:
    """Faces without repeated indices and with area above ``min_area``."""
    distinct = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    return faces[distinct & (area > min_area)]


def keep_large_components(vertices: np.ndarray, faces: np.ndarray, min_fraction: float) -> np.ndarray:
    """Faces of the connected components (sharing vertices) holding at least ``min_fraction`` of the surface area."""
    if len(faces) == 0:
        return faces
    n = len(vertices)
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = scipy.sparse.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, label = scipy.sparse.csgraph.connected_components(graph, directed=False)
    face_label = label[faces[:, 0]]
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    component_area = np.bincount(face_label, weights=area)
    keep = component_area >= min_fraction * component_area.sum()
    return faces[keep[face_label]]


def compact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices no face uses, renumbering the faces."""
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[faces].astype(np.int32)


def clean(vertices: np.ndarray, faces: np.ndarray, min_component_fraction: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """Degenerate faces out, floaters and tiny components (below ``min_component_fraction`` of the area) out, unused vertices out."""
    faces = remove_degenerate(vertices, faces)
    faces = keep_large_components(vertices, faces, min_component_fraction)
    return compact(vertices, faces)


def decimate(vertices: np.ndarray, faces: np.ndarray, target_faces: int) -> tuple[np.ndarray, np.ndarray]:
    """Quadric-error decimation to about ``target_faces`` faces (unchanged when already below)."""
    if len(faces) <= target_faces:
        return vertices, faces
    import fast_simplification

    out_vertices, out_faces = fast_simplification.simplify(
        np.ascontiguousarray(vertices, np.float32), np.ascontiguousarray(faces, np.int32), target_count=target_faces
    )
    return out_vertices.astype(np.float32), out_faces.astype(np.int32)


def winding_number(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, chunk: int = 1 << 21) -> np.ndarray:
    """Generalised winding number (N,) of a triangle mesh at ``points`` (N, 3): ≈1 inside a closed outward mesh, ≈0 outside.

    Sum of the signed solid angles of the faces over 4π (Van Oosterom & Strackee), in
    chunks of about ``chunk`` point–face pairs; robust to small holes and self-overlap.
    """
    import torch

    tri = torch.from_numpy(np.ascontiguousarray(vertices, dtype=np.float32))[torch.from_numpy(np.ascontiguousarray(faces, dtype=np.int64))]  # (F, 3, 3)
    query = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
    out = torch.zeros(len(query), dtype=torch.float64)
    step = max(1, chunk // max(len(tri), 1))
    for start in range(0, len(query), step):
        rel = tri[None] - query[start : start + step, None, None, :]  # (P, F, 3, 3)
        a, b, c = rel.unbind(dim=2)
        la, lb, lc = a.norm(dim=-1), b.norm(dim=-1), c.norm(dim=-1)
        numerator = (a * torch.linalg.cross(b, c)).sum(dim=-1)
        denominator = la * lb * lc + (a * b).sum(-1) * lc + (b * c).sum(-1) * la + (c * a).sum(-1) * lb
        out[start : start + step] = torch.atan2(numerator, denominator).double().sum(dim=1) / (2 * np.pi)
    return out.numpy()


def edge_topology(faces: np.ndarray, vertex_count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(edges (E, 2), corner_edges (F, 3))`` int32 of triangles ``faces`` (F, 3): each undirected edge once, and for
    corner c of face f the edge from its vertex to the next corner's (Blender's ``corner_edge``), so a client can
    hand a mesh over with its edges instead of having them derived (the slowest step of building a mesh in Blender)."""
    faces = np.asarray(faces, dtype=np.int64)
    start, end = faces.reshape(-1), faces[:, [1, 2, 0]].reshape(-1)
    keys = np.minimum(start, end) * vertex_count + np.maximum(start, end)
    unique, inverse = np.unique(keys, return_inverse=True)
    edges = np.stack([unique // vertex_count, unique % vertex_count], axis=1)
    return edges.astype(np.int32), inverse.reshape(-1, 3).astype(np.int32)
