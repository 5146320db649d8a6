"""Families of scenes with continuous shape and colour parameters (what CAD's 3D generator learns to sample).

Every family keeps its members inside [-0.7, 0.7]³ (CAD's triplane box), centred
on the origin. Members are built from a parameter dict, so two members can be
interpolated parameter by parameter.
"""

from __future__ import annotations

from .family_base import Family, Parameters, hue_color
from .random_world import parse_spec, random_family
from .shapes import COLORS, Part, Pattern, Primitive, Scene

__all__ = ["FAMILIES", "Family", "Parameters", "family", "hue_color"]


def _snowman(p: Parameters) -> Scene:
    body, head = p["body_radius"], p["body_radius"] * p["head_ratio"]
    bottom = -0.65 + body
    head_y = bottom + body + 0.8 * head
    hat = p["hat_height"]
    return Scene(
        (
            Part(Primitive.SPHERE, (0.0, bottom, 0.0), (body,) * 3, color=COLORS["white"]),
            Part(Primitive.SPHERE, (0.0, head_y, 0.0), (head,) * 3, color=COLORS["white"]),
            Part(Primitive.CONE, (0.0, head_y, head), (0.05, 0.05, 0.15), color=COLORS["orange"], yaw_deg=0.0),
            Part(Primitive.CYLINDER, (0.0, head_y + 0.8 * head + hat / 2, 0.0), (0.7 * head, hat / 2, 0.7 * head), color=hue_color(p["hat_hue"])),
        ),
        name="snowman",
    )


def _mushroom(p: Parameters) -> Scene:
    stem_half = p["stem_height"] / 2
    cap = p["cap_radius"]
    return Scene(
        (
            Part(Primitive.CYLINDER, (0.0, -0.65 + stem_half, 0.0), (p["stem_radius"], stem_half, p["stem_radius"]), color=COLORS["white"]),
            Part(
                Primitive.SPHERE, (0.0, -0.65 + 2 * stem_half, 0.0), (cap, cap * p["cap_squash"], cap),
                color=hue_color(p["cap_hue"]), pattern=Pattern.CHECKS, color2=COLORS["white"], frequency=2.0,
            ),
        ),
        name="mushroom",
    )


def _table(p: Parameters) -> Scene:
    width, depth, height, leg = p["width"], p["depth"], p["height"], p["leg_radius"]
    top_y = -0.65 + height
    wood = hue_color(p["wood_hue"], 0.6, 0.6)
    legs = tuple(
        Part(Primitive.CYLINDER, (sx * (width - 1.5 * leg), -0.65 + height / 2, sz * (depth - 1.5 * leg)), (leg, height / 2, leg), color=wood)
        for sx in (-1, 1)
        for sz in (-1, 1)
    )
    top = Part(Primitive.CUBE, (0.0, top_y + 0.04, 0.0), (width, 0.04, depth), color=wood, pattern=Pattern.STRIPES, color2=COLORS["brown"], frequency=4.0, yaw_deg=0.0)
    return Scene((top,) + legs, name="table")


def _ring_on_cube(p: Parameters) -> Scene:
    side = p["cube_size"]
    return Scene(
        (
            Part(Primitive.CUBE, (0.0, -0.65 + side, 0.0), (side,) * 3, yaw_deg=p["cube_yaw"], color=hue_color(p["cube_hue"]), pattern=Pattern.CHECKS, color2=COLORS["white"]),
            Part(Primitive.TORUS, (0.0, -0.65 + 2 * side + 0.3 * p["ring_size"], 0.0), (p["ring_size"],) * 3, color=hue_color(p["ring_hue"]), pattern=Pattern.STRIPES, color2=COLORS["white"], frequency=4.0),
        ),
        name="ring_on_cube",
    )


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("snowman", {"body_radius": (0.25, 0.35), "head_ratio": (0.55, 0.8), "hat_height": (0.08, 0.2), "hat_hue": (0.0, 1.0)}, _snowman),
        Family("mushroom", {"stem_height": (0.35, 0.6), "stem_radius": (0.08, 0.16), "cap_radius": (0.35, 0.6), "cap_squash": (0.35, 0.7), "cap_hue": (0.0, 1.0)}, _mushroom),
        Family("table", {"width": (0.45, 0.65), "depth": (0.3, 0.55), "height": (0.5, 0.9), "leg_radius": (0.03, 0.06), "wood_hue": (0.05, 0.12)}, _table),
        Family("ring_on_cube", {"cube_size": (0.2, 0.35), "cube_yaw": (0.0, 90.0), "cube_hue": (0.0, 1.0), "ring_size": (0.3, 0.5), "ring_hue": (0.0, 1.0)}, _ring_on_cube),
    )
}
"""The built-in families by name."""


def family(name: str) -> Family:
    """A built-in family, or ``random:<seed>`` (:func:`.random_world.random_family`); ValueError naming both otherwise."""
    if name in FAMILIES:
        return FAMILIES[name]
    seed = parse_spec(name)
    if seed is None:
        raise ValueError(f"unknown family {name!r} (known: {', '.join(FAMILIES)}, or random:<seed> with a seed ≥ 0)")
    return random_family(seed)
