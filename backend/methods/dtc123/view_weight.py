"""The SDS weight by distance from the reference view (DTC123 footnote 2), as pure functions.

"The weight function ω̄(t) is calibrated relative to the spherical distance from the reference view, as 3D models
tend to reconstruct more accurately near the reference view, requiring less teacher-guided imagination." The paper
gives no formula; the one here (see :class:`~.config.ViewWeightConfig`) is chosen: small at the reference view,
growing monotonically with the great-circle angle to 1 at the opposite side.
"""

from __future__ import annotations

import math


def angular_distance(pose: tuple[float, ...], reference: tuple[float, ...]) -> float:
    """Great-circle angle (radians, in [0, π]) between the directions of two cameras (elevation°, azimuth°, …) looking
    at the origin: cos θ = sin e₁ sin e₂ + cos e₁ cos e₂ cos(a₁ − a₂) (radii play no part)."""
    e1, a1, e2, a2 = (math.radians(value) for value in (pose[0], pose[1], reference[0], reference[1]))
    cosine = math.sin(e1) * math.sin(e2) + math.cos(e1) * math.cos(e2) * math.cos(a1 - a2)
    return math.acos(max(-1.0, min(1.0, cosine)))


def view_weight(angle: float, minimum: float, power: float) -> float:
    """w(θ) = minimum + (1 − minimum)·(θ/π)^power for an angle θ in [0, π] from the reference view: ``minimum`` there,
    1 opposite it, increasing in between."""
    return minimum + (1.0 - minimum) * (min(max(angle, 0.0), math.pi) / math.pi) ** power
