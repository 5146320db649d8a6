import math

import pytest

from protocol.cameras import BlenderCamera, blender_vertical_fov, camera_from_blender


def look_at_matrix(position):
    """A Blender camera world matrix (rows) at ``position`` (Z-up) looking at the origin, +Z up."""
    px, py, pz = position
    back = [px, py, pz]
    n = math.sqrt(sum(v * v for v in back))
    back = [v / n for v in back]  # camera +Z points away from the target
    right = [-back[1], back[0], 0.0]
    rn = math.sqrt(sum(v * v for v in right))
    right = [v / rn for v in right]
    up = [back[1] * right[2] - back[2] * right[1], back[2] * right[0] - back[0] * right[2], back[0] * right[1] - back[1] * right[0]]
    return tuple(tuple([right[r], up[r], back[r], position[r]]) for r in range(3)) + ((0.0, 0.0, 0.0, 1.0),)


@pytest.mark.parametrize(
    "position, elevation, azimuth",
    [((0.0, -2.0, 0.0), 0.0, 0.0), ((2.0, 0.0, 0.0), 0.0, 90.0), ((0.0, -1.0, 1.0), 45.0, 0.0), ((0.0, 2.0, 0.0), 0.0, 180.0)],
)
def test_blender_positions_become_our_spherical_pose(position, elevation, azimuth):
    camera = BlenderCamera(look_at_matrix(position), 50.0, 36.0, 24.0, "AUTO", (512, 512))
    wire, c2w, off = camera_from_blender(camera)
    # Blender's -Y (the front view) is our +Z, so a camera at Blender (0, -2, 0) sees the front: azimuth 0
    assert wire.elevation_deg == pytest.approx(elevation, abs=1e-6)
    assert wire.azimuth_deg == pytest.approx(azimuth, abs=1e-6)
    assert wire.distance == pytest.approx(math.dist(position, (0, 0, 0)))
    assert off == pytest.approx(0.0, abs=1e-4)


def test_sensor_fit_rules():
    # AUTO, landscape: the 36 mm width spans the width
    assert blender_vertical_fov(50, 36, 24, "AUTO", 640, 480) == pytest.approx(math.degrees(2 * math.atan(18 * 480 / 640 / 50)))
    # AUTO, portrait: the width (36 mm) spans the height
    assert blender_vertical_fov(50, 36, 24, "AUTO", 480, 640) == pytest.approx(math.degrees(2 * math.atan(18 / 50)))
    assert blender_vertical_fov(50, 36, 24, "VERTICAL", 640, 480) == pytest.approx(math.degrees(2 * math.atan(12 / 50)))


def test_a_camera_not_looking_at_the_origin_is_flagged():
    matrix = list(map(list, look_at_matrix((0.0, -2.0, 0.0))))
    for r in range(3):
        matrix[r][3] += [1.0, 0.0, 0.0][r]  # slide sideways without turning
    _, _, off = camera_from_blender(BlenderCamera(tuple(map(tuple, matrix)), 50.0, 36.0, 24.0, "AUTO", (512, 512)))
    assert off == pytest.approx(math.degrees(math.atan(1 / 2)), abs=1e-4)
