"""The synthetic text world: a small prompt grammar mapped to scenes (PRD's prompts without a language model).

Grammar (case and punctuation ignored)::

    prompt   := object [relation object]
    object   := [article] adjective* shape
    article  := a | an | the
    adjective:= colour | pattern | size
    relation := on | on top of | above | under | below | beside | next to

"a striped blue cube on a green sphere" puts the cube on top of the sphere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .shapes import COLORS, Color, Part, Pattern, Primitive, Scene

SHAPES: dict[str, Primitive] = {
    "sphere": Primitive.SPHERE, "ball": Primitive.SPHERE,
    "cube": Primitive.CUBE, "box": Primitive.CUBE, "block": Primitive.CUBE,
    "torus": Primitive.TORUS, "ring": Primitive.TORUS, "donut": Primitive.TORUS,
    "cylinder": Primitive.CYLINDER, "can": Primitive.CYLINDER,
    "cone": Primitive.CONE,
}
PATTERNS: dict[str, Pattern] = {"plain": Pattern.SOLID, "striped": Pattern.STRIPES, "checkered": Pattern.CHECKS, "checked": Pattern.CHECKS}
SIZES: dict[str, float] = {"small": 0.25, "big": 0.45, "large": 0.45}
RELATIONS: dict[tuple[str, ...], str] = {
    ("on", "top", "of"): "on", ("on",): "on", ("above",): "on",
    ("under",): "under", ("below",): "under",
    ("beside",): "beside", ("next", "to"): "beside",
}
ARTICLES = {"a", "an", "the"}
DEFAULT_SIZE = 0.35
"""Half extent of an object without a size word."""
HALF_HEIGHT = {Primitive.TORUS: 0.3}
"""Half height of unit primitives (1 unless listed)."""


@dataclass(frozen=True)
class ObjectPhrase:
    """One parsed object: "a small striped red cube"."""

    shape: Primitive
    """The noun."""
    color: Color
    """The colour word's RGB (grey without one)."""
    pattern: Pattern
    """The pattern word (solid without one)."""
    size: float
    """Half extent from the size word."""


def vocabulary() -> dict[str, list[str]]:
    """Every word the grammar knows, by kind."""
    return {
        "shapes": sorted(SHAPES), "colours": sorted(COLORS), "patterns": sorted(PATTERNS), "sizes": sorted(SIZES),
        "relations": [" ".join(words) for words in RELATIONS], "articles": sorted(ARTICLES),
    }


def _words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def _object(words: list[str], prompt: str) -> ObjectPhrase:
    color, pattern, size = COLORS["grey"], Pattern.SOLID, DEFAULT_SIZE
    if words and words[0] in ARTICLES:
        words = words[1:]
    if not words or words[-1] not in SHAPES:
        found = words[-1] if words else "nothing"
        raise ValueError(f"prompt {prompt!r}: expected a shape ({', '.join(sorted(SHAPES))}) but found {found!r}")
    for word in words[:-1]:
        if word in COLORS:
            color = COLORS[word]
        elif word in PATTERNS:
            pattern = PATTERNS[word]
        elif word in SIZES:
            size = SIZES[word]
        else:
            raise ValueError(f"prompt {prompt!r}: unknown word {word!r}; known adjectives: {', '.join(sorted(COLORS) + sorted(PATTERNS) + sorted(SIZES))}")
    return ObjectPhrase(SHAPES[words[-1]], color, pattern, size)


def _split(words: list[str]) -> tuple[list[str], str | None, list[str]]:
    for start in range(len(words)):
        for phrase, relation in sorted(RELATIONS.items(), key=lambda item: -len(item[0])):
            if tuple(words[start : start + len(phrase)]) == phrase:
                return words[:start], relation, words[start + len(phrase) :]
    return words, None, []


def _half_height(phrase: ObjectPhrase) -> float:
    return phrase.size * HALF_HEIGHT.get(phrase.shape, 1.0)


def _part(phrase: ObjectPhrase, center: tuple[float, float, float]) -> Part:
    second = COLORS["black"] if phrase.color == COLORS["white"] else COLORS["white"]
    return Part(phrase.shape, center, (phrase.size,) * 3, color=phrase.color, pattern=phrase.pattern, color2=second, frequency=2.0)


def parse(prompt: str) -> Scene:
    """The scene a prompt describes, centred on the origin; ValueError naming the offending word otherwise."""
    first_words, relation, second_words = _split(_words(prompt))
    first = _object(first_words, prompt)
    if relation is None:
        return Scene((_part(first, (0.0, 0.0, 0.0)),), name=prompt).centered()
    second = _object(second_words, prompt)
    if relation == "beside":  # side by side along X, standing on the same ground
        gap = 0.05
        left = _part(first, (-(first.size + gap / 2), _half_height(first), 0.0))
        right = _part(second, (second.size + gap / 2, _half_height(second), 0.0))
        return Scene((left, right), name=prompt).centered()
    top, bottom = (first, second) if relation == "on" else (second, first)
    parts = (_part(bottom, (0.0, 0.0, 0.0)), _part(top, (0.0, _half_height(bottom) + _half_height(top), 0.0)))
    return Scene(parts, name=prompt).centered()


def random_prompt(generator: torch.Generator | None = None, relation_probability: float = 0.5) -> str:
    """A random prompt of the grammar (one or two objects)."""

    def pick(options: list[str]) -> str:
        return options[int(torch.randint(len(options), (1,), generator=generator))]

    def phrase() -> str:
        words = [pick(["", "", "striped", "checkered"]), pick(sorted(COLORS)), pick(["sphere", "cube", "torus", "cylinder", "cone"])]
        return "a " + " ".join(w for w in words if w)

    if float(torch.rand(1, generator=generator)) < relation_probability:
        return f"{phrase()} {pick(['on', 'beside', 'under'])} {phrase()}"
    return phrase()
