"""PRD's synthetic text world: training and held-out prompts from the grammar, and scores against the scene a prompt names.

Prompts are "a <colour> <shape>" and "a <colour> <shape> on a <colour> <shape>" over :data:`COLOURS` × :data:`SHAPES`
(:mod:`backend.teachers.synthetic.text` parses them into scenes). The held-out split keeps out, for every shape, one
colour drawn by the seed: no training prompt pairs that colour with that shape, alone or in a stack, although both
words appear in other training prompts, and stacks of a held-out shape pair are kept out too. A student that scores
well on them has learnt the words, not the prompts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from ...teachers.synthetic.text import parse
from .mesh import grid_points

SHAPES = ("sphere", "cube", "torus", "cylinder", "cone")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "brown")


@dataclass(frozen=True)
class Split:
    """Prompts a student trains on, and prompts it never saw."""

    train: tuple[str, ...]
    held_out: tuple[str, ...]


def _single(colour: str, shape: str) -> str:
    return f"a {colour} {shape}"


def split(seed: int = 0, stacks: bool = True) -> Split:
    """The seed's split: singles and (with ``stacks``) two-object stacks; see the module docstring."""
    rng = np.random.default_rng(seed)
    held = {shape: COLOURS[int(rng.integers(len(COLOURS)))] for shape in SHAPES}
    held_stack = tuple(str(s) for s in rng.choice(SHAPES, 2, replace=False))
    is_held = lambda colour, shape: held[shape] == colour  # noqa: E731
    singles = [(c, s) for c, s in itertools.product(COLOURS, SHAPES)]
    train = [_single(c, s) for c, s in singles if not is_held(c, s)]
    held_out = [_single(c, s) for c, s in singles if is_held(c, s)]
    if stacks:
        for (c1, s1), (c2, s2) in itertools.product(singles, singles):
            prompt = f"{_single(c1, s1)} on {_single(c2, s2)}"
            if is_held(c1, s1) or is_held(c2, s2):
                continue  # a held-out colour-shape pair is never seen, stacked or not
            (held_out if (s1, s2) == held_stack else train).append(prompt)
    return Split(tuple(train), tuple(held_out))


@dataclass(frozen=True)
class Scores:
    """How well a student's object matches the scene a prompt names."""

    iou: float
    """Volume IoU of the student's inside (SDF < 0) and the scene's on a grid over the box."""
    color_error: float
    """Mean absolute RGB error of the student's colour against the scene's albedo at the scene's surface."""


def score(sdf, color, prompt: str, box: float = 1.0, resolution: int = 48, band: float = 0.02) -> Scores:
    """Scores of a student object given as ``sdf`` (points (N, 3) → (N,)) and ``color`` (points → (N, 3)) against ``prompt``'s
    scene; the colour is compared at grid points within ``band`` of the scene's surface."""
    scene = parse(prompt)
    points = grid_points(resolution, box).reshape(-1, 3)
    with torch.no_grad():
        ours, truth = sdf(points) < 0, scene.occupancy(points)
        union = (ours | truth).sum()
        iou = float((ours & truth).sum() / union) if union else 1.0
        near = scene.sdf(points).abs() < band
        error = float((color(points[near]) - scene.albedo(points[near])).abs().mean()) if near.any() else 0.0
    return Scores(iou, error)
