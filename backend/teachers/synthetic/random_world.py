"""Seeded random families and objects nobody designed: compositions of 2–5 primitives with continuous parameters.

``random_family(seed)`` draws a *blueprint* — a tree of parts (any of the five
primitives), each attached to an earlier one (stacked on its top, beside it, or at a
random anchor), with proportions, yaw, colours and a pattern — and then turns some of
its constants into family parameters, each with a range drawn for this family: part
scales and stretches, anchor azimuths and elevations, yaws and hues. A member is the
blueprint evaluated at one parameter dict, scaled down (never up) until it fits the
box, so members vary continuously and :meth:`Family.interpolate` works.

Connected by construction: a child is placed so that a point at depth ``INSET`` of
its own inside coincides with a point at depth ``INSET`` of its parent's inside, so
the two share a ball. A drawn family is kept only if probe members pass the checks
(thick enough parts, one 6-connected occupancy component on a ``CHECK_RESOLUTION``³
grid, enough volume); otherwise the next draw from the same seed is tried, so the
result stays a pure function of the seed.

Randomness comes from ``random.Random(seed).random()`` only, whose sequence Python
keeps stable across versions, so a seed names the same family everywhere.
"""

from __future__ import annotations

import colorsys
import enum
import math
import random
import re
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch
from scipy import ndimage

from .family_base import Family, Parameters, hue_color
from .shapes import COLORS, TORUS_MAJOR, TORUS_MINOR, Color, Part, Pattern, Primitive, Scene

SPEC = re.compile(r"random:(\d+)")
"""The family spec ``random:<seed>`` that :func:`~.families.family` resolves (a non-negative decimal seed)."""

FIT_HALF_EXTENT = 0.65
"""Largest bounding-box half extent of a member: 0.05 inside the [-0.7, 0.7]³ box, room for the inscribed
tessellations :meth:`Scene.bounds` measures (the icosphere's faces lie up to ~1 % inside the true sphere)."""
MIN_HALF_THICKNESS = 0.04
"""Thinnest allowed part (half of its thinnest dimension): ~3.6 cells of a 64³ grid over the box, so every part
keeps at least two cells of solid across it at that resolution wherever the grid falls."""
MIN_FILL = 0.01
"""Smallest occupied fraction of the box: a sphere of radius ~0.19 (the 64³ grid holds ~2 600 cells of it)."""
CHECK_RESOLUTION = 48
"""Grid of the connectivity and volume checks over the box (cells of 0.029)."""
INSET = 0.4
"""Depth of the shared point under each surface, as a fraction of the primitive's deepest point: deep enough for
a solid overlap, shallow enough that a child stands out of its parent."""
TARGET_HALF_EXTENT = (0.5, 0.62)
"""Bounds of the half extent a family's middle member is magnified to (never shrunk: the fit does that), drawn per
family: a family of small parts still fills most of the box, as the built-in families do, and members with larger
parameters keep room to grow before the fit caps them at :data:`FIT_HALF_EXTENT`."""
MAX_DRAWS = 64
"""Draws tried per seed before giving up (2 of 202 draws failed the checks for seeds 200–399)."""

CONE_INRADIUS = 2.0 / (1.0 + math.sqrt(5.0))
"""Radius of the ball inscribed in the unit cone (base radius 1, height 2)."""
DEEPEST = {Primitive.SPHERE: 1.0, Primitive.CUBE: 1.0, Primitive.CYLINDER: 1.0, Primitive.CONE: CONE_INRADIUS, Primitive.TORUS: TORUS_MINOR}
"""How far inside each unit primitive its deepest point lies (−min of its signed distance)."""

Knob = float | str
"""A constant, or the name of the family parameter whose value it takes."""


class Layout(str, enum.Enum):
    """Where on its parent a part is attached."""

    STACKED = "stacked"
    """On the parent's top (anchor elevation near 90°)."""
    SIDE = "side"
    """Beside the parent (anchor elevation near 0°)."""
    ATTACHED = "attached"
    """Anywhere from under the parent's equator to its top."""


ELEVATIONS: dict[Layout, tuple[float, float]] = {Layout.STACKED: (65.0, 90.0), Layout.SIDE: (-15.0, 15.0), Layout.ATTACHED: (-50.0, 85.0)}
"""Anchor elevation bounds (degrees) of each layout, base values and parameter ranges alike."""


@dataclass(frozen=True)
class Placement:
    """Where a part sits on its parent."""

    parent: int
    """Index of an earlier part of the blueprint."""
    layout: Layout
    """What kind of attachment (chooses the elevation bounds)."""
    azimuth: Knob
    """Anchor azimuth (degrees) in the parent's frame, 0 toward its +Z; on a torus parent, the ring angle."""
    elevation: Knob
    """Anchor elevation (degrees) in the parent's frame; on a torus parent, the angle around the tube."""
    ring_contact: float
    """Where a torus child touches its parent: the ring angle (degrees, its own frame); unused by other shapes."""


@dataclass(frozen=True)
class Paint:
    """Colours and pattern of a part; the second colour is derived from the first so the pattern always shows."""

    hue: Knob
    """Hue in [0, 1) (taken modulo 1)."""
    saturation: float
    """In [0, 1]; hue parameters only go on parts with saturation ≥ 0.35, where a hue change is visible."""
    value: float
    """In [0, 1]."""
    pattern: Pattern
    """Solid, stripes or checks."""
    hue_shift: float
    """Second colour's hue minus the first's."""
    saturation2: float
    """Second colour's saturation."""
    value2: float
    """Second colour's value, at least 0.35 away from ``value`` (a contrast visible on any hue)."""
    frequency: float
    """Pattern cells per local unit."""

    def colors(self, parameters: Parameters) -> tuple[Color, Color]:
        hue = _value(self.hue, parameters)
        return hue_color(hue, self.saturation, self.value), hue_color(hue + self.hue_shift, self.saturation2, self.value2)


@dataclass(frozen=True)
class PartSpec:
    """One part of a blueprint, before the parameters are filled in."""

    shape: Primitive
    """Which unit primitive."""
    size: tuple[float, float, float]
    """Half extents at scale 1 and stretch 1."""
    scale: Knob
    """Multiplies all three half extents."""
    stretch: Knob
    """Multiplies the vertical half extent."""
    yaw: Knob
    """Degrees about +Y, relative to the parent's yaw (absolute for the root)."""
    paint: Paint
    """Colours and pattern."""
    placement: Placement | None
    """Where it sits on its parent; None for the root (part 0)."""


@dataclass(frozen=True)
class Blueprint:
    """A family's structure, called as its ``build``: parameter dict → scene. A plain dataclass, so families pickle."""

    parts: tuple[PartSpec, ...]
    """Parents before children; part 0 is the root."""
    name: str
    """The name of its scenes."""
    magnification: float = 1.0
    """Multiplies every size, hence the whole composition (placements follow from sizes), before fitting."""

    def __call__(self, parameters: Parameters) -> Scene:
        built: list[Part] = []
        for spec in self.parts:
            scale, stretch = _value(spec.scale, parameters), _value(spec.stretch, parameters)
            size = np.asarray(spec.size) * (self.magnification * scale) * np.array([1.0, stretch, 1.0])
            color, color2 = spec.paint.colors(parameters)
            yaw = _value(spec.yaw, parameters)
            center = np.zeros(3)
            if spec.placement is not None:
                parent = built[spec.placement.parent]
                yaw += parent.yaw_deg
                anchor, core = _parent_anchor(parent, spec.placement, parameters)
                outward = anchor - core
                toward_parent = _yaw(-outward / np.linalg.norm(outward), -yaw) / size  # in the child's unit frame
                contact = _contact(spec.shape, toward_parent, spec.placement.ring_contact)
                center = anchor - _yaw(contact * size, yaw)
            built.append(
                Part(
                    spec.shape, tuple(float(c) for c in center), tuple(float(s) for s in size), yaw_deg=float(yaw),
                    color=color, pattern=spec.paint.pattern, color2=color2, frequency=spec.paint.frequency,
                )
            )
        return _fit(Scene(tuple(built), name=self.name))


def random_family(seed: int) -> Family:
    """The random family of ``seed`` (≥ 0), named ``random-<seed>``; the same seed gives the same family."""
    return _random_family(int(seed))


def random_object(seed: int) -> Scene:
    """One random object: the member of ``random_family(seed)`` drawn with ``torch.Generator().manual_seed(seed)``."""
    return random_family(seed).sample(torch.Generator().manual_seed(seed))


def random_families(count: int, seed: int = 0) -> list[Family]:
    """``count`` random families, of seeds ``seed, seed + 1, …`` (so each is also ``random:<its seed>``)."""
    return [random_family(seed + k) for k in range(count)]


def parse_spec(spec: str) -> int | None:
    """The seed of a ``random:<seed>`` spec, None for any other string."""
    match = SPEC.fullmatch(spec.strip())
    return int(match.group(1)) if match else None


def part_thickness(part: Part) -> float:
    """Half of the part's thinnest dimension (a torus's is its tube radius)."""
    return min(part.size) * (TORUS_MINOR if part.shape is Primitive.TORUS else 1.0)


def occupancy_grid(scene: Scene, resolution: int = CHECK_RESOLUTION, half: float = 0.7) -> np.ndarray:
    """(R, R, R) bool occupancy at the cell centres of a ``resolution``³ grid over [-half, half]³, indexed (x, y, z)."""
    axis = (torch.arange(resolution, dtype=torch.float32) + 0.5) * (2 * half / resolution) - half
    points = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)
    return scene.occupancy(points).reshape(resolution, resolution, resolution).numpy()


def component_count(occupied: np.ndarray) -> int:
    """Number of face-connected (6-neighbour) components of an (R, R, R) bool grid."""
    return int(ndimage.label(occupied)[1])


@lru_cache(maxsize=256)
def _random_family(seed: int) -> Family:
    if seed < 0:
        raise ValueError(f"a random family's seed must be ≥ 0, got {seed}")
    dice = _Dice(seed)
    name = f"random-{seed}"
    for _ in range(MAX_DRAWS):
        blueprint, ranges = _parametrise(dice, _draw_structure(dice, name))
        candidate = Family(name, ranges, _magnified(blueprint, ranges, dice.uniform(*TARGET_HALF_EXTENT)))
        if _acceptable(candidate, dice):
            return candidate
    raise RuntimeError(f"no acceptable random family for seed {seed} in {MAX_DRAWS} draws")


class _Dice:
    """Uniform draws built on ``random.Random.random`` alone (the one method whose sequence Python keeps stable)."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._random.random()

    def chance(self, probability: float) -> bool:
        return self._random.random() < probability

    def pick(self, options: list):
        return options[min(int(self._random.random() * len(options)), len(options) - 1)]


def _draw_structure(dice: _Dice, name: str) -> Blueprint:
    """A blueprint of 2–5 parts with constant knobs only."""
    count = dice.pick([2, 3, 4, 5])
    parts = []
    for index in range(count):
        shape = dice.pick(list(Primitive))
        placement = None
        if index:
            layout = dice.pick(list(Layout))
            placement = Placement(dice.pick(list(range(index))), layout, dice.uniform(0.0, 360.0), dice.uniform(*ELEVATIONS[layout]), dice.uniform(0.0, 360.0))
        parts.append(PartSpec(shape, _draw_size(dice, shape, root=not index), 1.0, 1.0, dice.uniform(0.0, 360.0), _draw_paint(dice), placement))
    if all(p.paint.saturation < 0.35 for p in parts):  # make room for a hue parameter
        parts[0] = replace(parts[0], paint=replace(parts[0].paint, saturation=dice.uniform(0.5, 0.9)))
    return Blueprint(tuple(parts), name)


def _draw_size(dice: _Dice, shape: Primitive, root: bool) -> tuple[float, float, float]:
    """Half extents: a root of radius 0.22–0.34, children 0.12–0.26 (tori 0.2–0.3, for their 0.3 tube), each axis
    stretched by 0.65–1.5 (x and z alike for the round shapes, mostly), floored at 0.07 (0.2 for a torus) so that a
    part at the lowest scale (0.7) is still 0.049 thick before fitting."""
    torus = shape is Primitive.TORUS
    radius = dice.uniform(0.22, 0.34) if root else dice.uniform(0.2, 0.3) if torus else dice.uniform(0.12, 0.26)
    ax, ay, az = (dice.uniform(0.65, 1.5) for _ in range(3))
    if shape is not Primitive.CUBE and dice.chance(0.7):
        az = ax
    floor = 0.2 if torus else 0.07
    return tuple(max(floor, radius * a) for a in (ax, ay, az))


def _draw_paint(dice: _Dice) -> Paint:
    """A named colour (30 %) or a random hue; solid half the time, else stripes or checks of 1–3 cells per unit."""
    if dice.chance(0.3):
        hue, saturation, value = colorsys.rgb_to_hsv(*dice.pick(list(COLORS.values())))
    else:
        hue, saturation, value = dice.uniform(0.0, 1.0), dice.uniform(0.45, 0.95), dice.uniform(0.35, 0.95)
    pattern = dice.pick([Pattern.SOLID, Pattern.SOLID, Pattern.STRIPES, Pattern.CHECKS])
    value2 = dice.uniform(0.05, value - 0.35) if value >= 0.5 else dice.uniform(value + 0.35, 0.98)
    return Paint(hue, saturation, value, pattern, dice.uniform(0.0, 1.0), dice.uniform(0.0, 0.9), value2, dice.uniform(1.0, 3.0))


_KINDS = ("size", "offset", "hue")
"""Kinds of parameter every family has at least one of."""


def _parametrise(dice: _Dice, blueprint: Blueprint) -> tuple[Blueprint, dict[str, tuple[float, float]]]:
    """The blueprint with some knobs turned into parameters, and their ranges: each candidate knob with probability
    0.35, then one more of each kind in :data:`_KINDS` that none was chosen of."""
    slots = []  # (part index, knob, kind)
    for index, spec in enumerate(blueprint.parts):
        slots += [(index, "scale", "size"), (index, "stretch", "size")]
        if spec.placement is not None:  # the root's yaw would turn the whole object: a pose, not a shape
            slots.append((index, "yaw", "yaw"))
        if spec.paint.saturation >= 0.35:
            slots.append((index, "hue", "hue"))
        if spec.placement is not None:
            slots.append((index, "elevation" if spec.placement.layout is Layout.STACKED else "azimuth", "offset"))
            if spec.placement.layout is Layout.ATTACHED:
                slots.append((index, "elevation", "offset"))
    chosen = [slot for slot in slots if dice.chance(0.35)]
    for kind in _KINDS:
        if not any(slot[2] == kind for slot in chosen):
            chosen.append(dice.pick([slot for slot in slots if slot[2] == kind]))
    parts, ranges = list(blueprint.parts), {}
    for index, knob, _ in sorted(chosen):
        name = f"part{index}_{knob}"
        parts[index], ranges[name] = _with_parameter(dice, parts[index], knob, name)
    return Blueprint(tuple(parts), blueprint.name), ranges


def _with_parameter(dice: _Dice, spec: PartSpec, knob: str, name: str) -> tuple[PartSpec, tuple[float, float]]:
    """``spec`` with ``knob`` replaced by parameter ``name``, and its range around the constant it replaces.

    Half widths: scale ±0.1–0.3 and stretch ±0.1–0.35 (visible, yet the thinnest part stays above the floor after
    fitting); yaw ±15–60°; hue ±0.04–0.25, or the whole circle a quarter of the time (like the built-in families'
    hat and cap hues); azimuth ±15–60°; elevation ±8–30° within the layout's bounds.
    """
    if knob in ("scale", "stretch"):
        width = dice.uniform(0.1, 0.3 if knob == "scale" else 0.35)
        return replace(spec, **{knob: name}), (1.0 - width, 1.0 + width)
    if knob == "yaw":
        width = dice.uniform(15.0, 60.0)
        return replace(spec, yaw=name), (spec.yaw - width, spec.yaw + width)
    if knob == "hue":
        hue = spec.paint.hue
        span = (0.0, 1.0) if dice.chance(0.25) else (hue - (w := dice.uniform(0.04, 0.25)), hue + w)
        return replace(spec, paint=replace(spec.paint, hue=name)), span
    placement = spec.placement
    assert placement is not None
    base = getattr(placement, knob)
    if knob == "azimuth":
        width = dice.uniform(15.0, 60.0)
        span = (base - width, base + width)
    else:
        low, high = ELEVATIONS[placement.layout]
        width = dice.uniform(8.0, 30.0)
        span = (max(low, base - width), min(high, base + width))
    return replace(spec, placement=replace(placement, **{knob: name})), span


def _magnified(blueprint: Blueprint, ranges: dict[str, tuple[float, float]], target: float) -> Blueprint:
    """``blueprint`` magnified so that its middle member's largest half extent is ``target`` (if it is smaller)."""
    lo, hi = blueprint({k: (low + high) / 2 for k, (low, high) in ranges.items()}).bounds()
    return replace(blueprint, magnification=max(1.0, target / float((hi - lo).max() / 2)))


def _acceptable(candidate: Family, dice: _Dice) -> bool:
    """Whether probe members pass the checks: every part at least :data:`MIN_HALF_THICKNESS` at the low, middle and
    high corners, at two random points, and with each size parameter low while the others are high (the thinnest
    that part gets beside the largest fit); one component and :data:`MIN_FILL` of the box at the corners and middle."""
    low = {k: lo for k, (lo, _) in candidate.ranges.items()}
    high = {k: hi for k, (_, hi) in candidate.ranges.items()}
    middle = {k: (lo + hi) / 2 for k, (lo, hi) in candidate.ranges.items()}
    spread = [{k: dice.uniform(lo, hi) for k, (lo, hi) in candidate.ranges.items()} for _ in range(2)]
    squeezed = [{**high, k: low[k]} for k in candidate.ranges if k.endswith(("_scale", "_stretch"))]
    for parameters in [low, middle, high, *spread, *squeezed]:
        if min(part_thickness(p) for p in candidate.build(parameters).parts) < MIN_HALF_THICKNESS:
            return False
    for parameters in (low, middle, high):
        occupied = occupancy_grid(candidate.member(parameters))
        if component_count(occupied) != 1 or occupied.mean() < MIN_FILL:
            return False
    return True


def _value(knob: Knob, parameters: Parameters) -> float:
    return float(parameters[knob]) if isinstance(knob, str) else knob


def _yaw(v: np.ndarray, degrees: float) -> np.ndarray:
    """(3,) vector turned by ``degrees`` about +Y, as :meth:`Part.to_world` turns local points."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([c * v[0] + s * v[2], v[1], -s * v[0] + c * v[2]])


def _direction(azimuth: float, elevation: float) -> np.ndarray:
    """(3,) unit vector; azimuth 0 is +Z, 90 is +X; elevation 90 is +Y."""
    a, e = math.radians(azimuth), math.radians(elevation)
    return np.array([math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a)])


def _core(shape: Primitive) -> np.ndarray:
    """(3,) local point the anchors of a convex unit primitive are cast from: its centre, the cone's inscribed ball's."""
    return np.array([0.0, -1.0 + CONE_INRADIUS, 0.0]) if shape is Primitive.CONE else np.zeros(3)


def _inset_along(shape: Primitive, u: np.ndarray) -> np.ndarray:
    """(3,) local point of a convex unit primitive at signed distance −INSET·deepest, on the ray from its core along
    unit ``u`` (3,): where the ray meets the primitive shrunk by that depth (a sphere, box, cylinder or cone again)."""
    depth = INSET * DEEPEST[shape]
    core = _core(shape)
    radial = math.hypot(u[0], u[2])
    if shape is Primitive.SPHERE:
        t = 1.0 - depth
    elif shape is Primitive.CUBE:
        t = (1.0 - depth) / np.abs(u).max()
    elif shape is Primitive.CYLINDER:
        t = (1.0 - depth) / max(abs(u[1]), radial)
    else:  # the shrunk cone: bottom plane y = −1 + depth, side radius (apex − y) / 2 with apex 1 − depth·√5
        apex = 1.0 - depth * math.sqrt(5.0)
        hits = [(apex - core[1]) / (2.0 * radial + u[1])] if 2.0 * radial + u[1] > 1e-9 else []
        if u[1] < -1e-9:
            hits.append((-1.0 + depth - core[1]) / u[1])
        t = min(hits)
    return core + t * u


def _torus_inset(ring: float, tube: float) -> tuple[np.ndarray, np.ndarray]:
    """(point, tube centre) (3,) each of the unit torus: at ring angle ``ring`` and angle ``tube`` around the tube
    (degrees), INSET·TORUS_MINOR inside the surface."""
    across = _direction(ring, 0.0)
    centre = TORUS_MAJOR * across
    a = math.radians(tube)
    return centre + (1.0 - INSET) * TORUS_MINOR * (math.cos(a) * across + math.sin(a) * np.array([0.0, 1.0, 0.0])), centre


def _parent_anchor(parent: Part, placement: Placement, parameters: Parameters) -> tuple[np.ndarray, np.ndarray]:
    """(anchor, core) (3,) in world coordinates: the shared point inside the parent and the point it lies out from."""
    azimuth, elevation = _value(placement.azimuth, parameters), _value(placement.elevation, parameters)
    if parent.shape is Primitive.TORUS:
        anchor, core = _torus_inset(azimuth, elevation)
    else:
        anchor, core = _inset_along(parent.shape, _direction(azimuth, elevation)), _core(parent.shape)
    world = parent.to_world(np.stack([anchor, core]))
    return world[0], world[1]


def _contact(shape: Primitive, toward_parent: np.ndarray, ring_contact: float) -> np.ndarray:
    """(3,) local point of a child shared with its parent: inset along ``toward_parent`` (3,, its unit frame); a torus
    child touches with its tube at the fixed ring angle, turned toward the parent's elevation (continuous everywhere,
    where an azimuth toward a parent straight below would jump)."""
    u = toward_parent / np.linalg.norm(toward_parent)
    if shape is Primitive.TORUS:
        return _torus_inset(ring_contact, math.degrees(math.asin(float(np.clip(u[1], -1.0, 1.0)))))[0]
    return _inset_along(shape, u)


def _fit(scene: Scene) -> Scene:
    """``scene`` scaled about its bounding-box centre by min(1, FIT_HALF_EXTENT / its largest half extent)."""
    lo, hi = scene.bounds()
    centre, factor = (lo + hi) / 2, min(1.0, FIT_HALF_EXTENT / float((hi - lo).max() / 2))
    if factor == 1.0:
        return scene
    parts = tuple(
        replace(p, center=tuple(float(c) for c in centre + factor * (np.asarray(p.center) - centre)), size=tuple(factor * s for s in p.size))
        for p in scene.parts
    )
    return Scene(parts, name=scene.name)
