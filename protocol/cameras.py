"""Blender cameras in the backend's convention, in plain Python (the add-on uses this without torch).

Our world frame is glTF's: right-handed, +Y up, objects face +Z; cameras look
along their local −Z with +Y up (OpenGL), as Blender's do. Blender's world is
Z-up, and (x, y, z)_Blender ↦ (x, z, −y)_ours, as its glTF exporter maps it.
A spherical pose (elevation above the XZ-plane, azimuth around +Y from +Z
towards +X, distance) describes a camera looking at the origin; see
:mod:`backend.core.cameras` for the rest of the conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .messages import Camera

Matrix = tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class BlenderCamera:
    """What the add-on reads off a Blender camera object (Blender's units and conventions)."""

    matrix_world: Matrix
    """The camera object's 4×4 world matrix, rows (``obj.matrix_world``)."""
    lens_mm: float
    """Focal length (``camera.data.lens``)."""
    sensor_width_mm: float
    """``camera.data.sensor_width``."""
    sensor_height_mm: float
    """``camera.data.sensor_height``."""
    sensor_fit: str
    """``AUTO``, ``HORIZONTAL`` or ``VERTICAL`` (``camera.data.sensor_fit``)."""
    resolution: tuple[int, int]
    """Render resolution (x, y) in pixels, after the percentage scale."""


def blender_vertical_fov(lens_mm: float, sensor_width_mm: float, sensor_height_mm: float, sensor_fit: str, width: int, height: int) -> float:
    """The vertical field of view (degrees) Blender renders with, by its sensor-fit rules."""
    if sensor_fit == "AUTO":  # the sensor width spans the larger side
        fit, sensor = ("HORIZONTAL" if width >= height else "VERTICAL"), sensor_width_mm
    else:
        fit = sensor_fit
        sensor = sensor_width_mm if fit == "HORIZONTAL" else sensor_height_mm
    half_height = 0.5 * sensor * height / width if fit == "HORIZONTAL" else 0.5 * sensor
    return math.degrees(2 * math.atan(half_height / lens_mm))


def blender_pose_to_world(matrix: Matrix) -> Matrix:
    """A Blender camera's world matrix as our camera-to-world (rows; object scale removed)."""
    columns = [[matrix[r][c] for r in range(3)] for c in range(3)]
    columns = [[v / math.sqrt(sum(x * x for x in col)) for v in col] for col in columns]
    rotation = [[columns[c][r] for c in range(3)] for r in range(3)]
    rows = [rotation[r] + [matrix[r][3]] for r in range(3)]
    x, y, z = rows  # (x, y, z) ↦ (x, z, −y)
    return (tuple(x), tuple(z), tuple(-v for v in y), (0.0, 0.0, 0.0, 1.0))


def spherical_pose(c2w: Matrix) -> tuple[float, float, float]:
    """``(elevation_deg, azimuth_deg, distance)`` of a camera-to-world's position."""
    x, y, z = (c2w[r][3] for r in range(3))
    distance = math.sqrt(x * x + y * y + z * z)
    elevation = math.degrees(math.asin(max(-1.0, min(1.0, y / distance)))) if distance > 0 else 0.0
    return elevation, math.degrees(math.atan2(x, z)), distance


def off_target_deg(c2w: Matrix) -> float:
    """Angle between the camera's viewing direction and the direction to the origin (0 for a look-at camera)."""
    forward = [-c2w[r][2] for r in range(3)]
    position = [c2w[r][3] for r in range(3)]
    norm = math.sqrt(sum(p * p for p in position))
    if norm == 0:
        return 0.0
    cosine = -sum(f * p for f, p in zip(forward, position)) / norm
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def camera_from_blender(camera: BlenderCamera) -> tuple[Camera, Matrix, float]:
    """``(wire camera, camera-to-world rows, off-target angle)`` for a Blender camera.

    The wire camera keeps only the spherical pose and the vertical FOV: methods
    assume the camera looks at the origin, so a caller should warn when the
    off-target angle is large.
    """
    width, height = camera.resolution
    c2w = blender_pose_to_world(camera.matrix_world)
    elevation, azimuth, distance = spherical_pose(c2w)
    fov = blender_vertical_fov(camera.lens_mm, camera.sensor_width_mm, camera.sensor_height_mm, camera.sensor_fit, width, height)
    wire = Camera(elevation_deg=elevation, azimuth_deg=azimuth, distance=distance, fov_deg=fov)
    return wire, c2w, off_target_deg(c2w)
