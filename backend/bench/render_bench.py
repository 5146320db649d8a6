"""``distill3d bench render``: volume rendering and rasterisation throughput at several resolutions.

Volume: a CAD-sized triplane field (3 × 32 × 128², EG3D decoder) and a DTC123-sized
hash-grid NeRF (16 levels, 2¹⁹ entries, 3-layer MLP), both with 48 stratified +
48 importance samples per ray; the hash grid only up to 128² unless asked
(DTC123 renders its NeRF at 64²). Rasterisation: a ~100k-face torus with
normals and vertex colours through :func:`render_mesh`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO

import torch
import trimesh

from ..core import cameras
from ..core.hashgrid import HashGridConfig, HashGridEncoding
from ..core.mesh_render import render_mesh
from ..core.triplane import TriplaneDecoder, density_activation, triplane_features
from ..core.volume import render_chunked
from ..table import print_table

BOX = (-0.7, 0.7)
FOV = 49.1


def triplane_field(device: torch.device) -> Callable:
    planes = torch.randn(1, 3, 32, 128, 128, device=device) * 0.5
    decoder = TriplaneDecoder(32).to(device)

    def field(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, raw = decoder(triplane_features(planes, points[None], BOX)[0])
        return rgb, density_activation(raw)

    return field


def hashgrid_field(device: torch.device) -> Callable:
    encoding = HashGridEncoding(HashGridConfig(), bounds=BOX).to(device)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(encoding.output_dim, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4)
    ).to(device)

    def field(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = mlp(encoding(points))
        return torch.sigmoid(out[:, :3]), density_activation(out[:, 3], "exp")

    return field


def _time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def run_render_bench(resolutions: list[int], hashgrid_max: int, faces: int, repeats: int, device: str = "auto", out: TextIO = sys.stdout) -> None:
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    torch.manual_seed(0)
    c2w = cameras.spherical_to_c2w(torch.tensor(20.0), torch.tensor(30.0), torch.tensor(2.0)).to(dev)
    volume_rows = []
    with torch.no_grad():
        for name, make in (("triplane (CAD)", triplane_field), ("hash grid (DTC123)", hashgrid_field)):
            field = make(dev)
            for resolution in resolutions:
                if name.startswith("hash") and resolution > hashgrid_max:
                    continue
                origins, directions = cameras.get_rays(c2w, FOV, resolution, resolution)
                seconds = _time(lambda: render_chunked(field, origins, directions, chunk=4096, box=BOX, coarse=48, fine=48, perturb=False), dev, repeats)
                rays = resolution * resolution
                volume_rows.append((name, f"{resolution}²", f"{seconds * 1e3:,.0f}", f"{rays / seconds / 1e3:,.1f}", f"{rays * 96 / seconds / 1e6:,.2f}"))
    torus = trimesh.creation.torus(0.45, 0.18, major_sections=max(8, int((faces / 2) ** 0.5 * 1.25)), minor_sections=max(4, int((faces / 2) ** 0.5 * 0.8)))
    positions = torch.tensor(torus.vertices, dtype=torch.float32, device=dev)
    triangles = torch.tensor(torus.faces, device=dev)
    normals = torch.tensor(torus.vertex_normals, dtype=torch.float32, device=dev)
    colors = normals * 0.5 + 0.5
    raster_rows = []
    for resolution in resolutions:
        seconds = _time(lambda: render_mesh(positions, triangles, c2w[None], FOV, resolution, resolution, colors=colors, normals=normals), dev, repeats)
        raster_rows.append((f"{len(torus.faces):,}", f"{resolution}²", f"{seconds * 1e3:,.1f}", f"{resolution * resolution / seconds / 1e6:,.2f}"))
    print(f"distill3d bench render — {dev.type}, {os.cpu_count()} CPU cores, torch {torch.__version__}, best of {repeats}", file=out)
    print_table("Volume rendering (48 stratified + 48 importance samples per ray)",
                ("field", "image", "ms / image", "k rays / s", "M samples / s"), volume_rows, out)
    print_table("Rasterisation (rgb from vertex colours, mask, depth, normals)",
                ("faces", "image", "ms / image", "M pixels / s"), raster_rows, out)
