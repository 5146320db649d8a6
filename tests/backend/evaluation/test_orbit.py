"""The evaluation cameras: the 120-frame turntable covers the circle; novel views avoid the reference."""

import torch

from backend.core.cameras import c2w_to_spherical
from backend.evaluation.orbit import novel_views, turntable


def test_the_turntable_has_120_distinct_azimuths_covering_360_degrees():
    orbit = turntable(elevation_deg=20.0, radius=2.5)
    azimuths = orbit.azimuths()
    assert orbit.frames == 120 and len(set(azimuths.tolist())) == 120
    assert torch.allclose(azimuths.diff(), torch.full((119,), 3.0, dtype=torch.float64))
    assert azimuths[0] == 0.0 and azimuths[-1] == 357.0, "the full circle, the start not repeated"
    elevation, azimuth, radius = c2w_to_spherical(orbit.c2w())
    assert torch.allclose(elevation, torch.full((120,), 20.0), atol=1e-4) and torch.allclose(radius, torch.full((120,), 2.5), atol=1e-5)
    assert len({round(a) % 360 for a in azimuth.tolist()}) == 120, "the cameras really stand at 120 azimuths"


def test_an_orbit_can_start_at_the_reference_azimuth():
    assert turntable(frames=4, start_azimuth_deg=180.0).azimuths().tolist() == [180.0, 270.0, 360.0, 450.0]


def test_novel_views_are_evenly_spaced_and_none_is_the_reference():
    azimuths = novel_views(8, 15.0, 2.0, 49.1).azimuths()
    assert azimuths.tolist() == [22.5 + 45 * k for k in range(8)]
    assert all(a % 360 != 0 for a in azimuths.tolist())
