"""The reconstruction frame round trip."""

import numpy as np
import pytest
import torch

from backend.core.cameras import spherical_to_position
from backend.core.frame import NORMALISED_RADIUS, Frame, rotation_y


def test_the_frame_centres_scales_and_turns_the_camera_to_azimuth_zero():
    points = np.random.default_rng(0).normal(size=(50, 3)) * (1, 2, 3) + (5, -1, 2)
    frame = Frame.normalising(points, azimuth_deg=70.0)
    inside = frame.to_reconstruction(points)
    assert np.linalg.norm(inside, axis=1).max() == pytest.approx(NORMALISED_RADIUS, rel=0.01)
    assert np.allclose(frame.to_object(inside), points)
    camera = spherical_to_position(torch.tensor(0.0), torch.tensor(70.0), torch.tensor(1.0)).numpy()
    assert np.allclose(rotation_y(-70.0) @ camera, [0, 0, 1], atol=1e-6), "the job's camera direction becomes azimuth 0"
    assert np.allclose(frame.rotate_to_object(frame.to_reconstruction(points) * 0 + [0, 0, 1]), rotation_y(70.0) @ [0, 0, 1])
    assert np.linalg.norm(Frame.normalising(points, 0.0, radius=0.6).to_reconstruction(points), axis=1).max() == pytest.approx(0.6, rel=0.01)
