"""Strict parsers for the point answers of each model family. Model text is untrusted input.

Never ``eval``: every format has a small point grammar, matched with linear-time regular
expressions on an answer capped at ``MAX_ANSWER_CHARS`` (checked before any regex work). A parser
collects every well-formed point token of its format and ignores the prose around it; anything else
(three-element lists, words, ``nan``, ``inf``, numbers that overflow a float) is not a point.

Answer region: text inside ``<think>...</think>`` is reasoning, not an answer, and is skipped
(an unclosed ``<think>`` skips the rest of the text); if an ``<answer>`` tag follows, only its
content is read (an unclosed one is read to the end).

Point grammars (``NUM`` is a decimal number with optional sign, fraction and exponent):

- ROBOREFER, ROBOPOINT: ``(NUM, NUM)`` tuples, normalised (x, y).
- QWEN25: ``[NUM, NUM]`` lists (bare or as ``"point_2d"``) or ``(NUM, NUM)`` tuples, absolute
  (x, y) pixels of the image the model saw.
- QWEN3: the same tokens on a 0..1000 scale.
- GEMINI: ``"point": [NUM, NUM]`` in (y, x) order on a 0..1000 scale, fenced or bare.
- MOLMO: ``<point x="NUM" y="NUM" ...>`` and ``<points x1="NUM" y1="NUM" x2=... ...>`` in percent.

Out-of-range rule (``validate_points``): after normalisation, a coordinate within
``[-tolerance, 1 + tolerance]`` (default 0.02, i.e. 2 % of the image) is clamped into [0, 1], since
models round and pad at the border; a point with a coordinate further out is dropped. When points
were read but every one was dropped, the answer is OUT_OF_IMAGE; when none was read, PARSE_ERROR.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from enum import Enum

from roborefer_ros.core.status import RefPointError, Status

MAX_ANSWER_CHARS = 64 * 1024
DEFAULT_TOLERANCE = 0.02

Point = tuple[float, float]

# Linear-time building blocks: no nested quantifiers, so a failed match backtracks at most
# across one run of digits or whitespace. re.ASCII: only ASCII digits and spaces count.
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_TUPLE = rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)"
_LIST = rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*\]"
_TUPLE_RE = re.compile(_TUPLE, re.ASCII)
_LIST_OR_TUPLE_RE = re.compile(rf"{_LIST}|{_TUPLE}", re.ASCII)
_GEMINI_RE = re.compile(rf"\"point\"\s*:\s*{_LIST}", re.ASCII)
_MOLMO_TAG_RE = re.compile(r"<points?(\s[^<>]*)>", re.ASCII)
# An attribute name must follow whitespace, so a long word is scanned once, not once per letter.
_MOLMO_ATTR_RE = re.compile(r"\s([A-Za-z_][\w.-]*)\s*=\s*\"([^\"]*)\"", re.ASCII)
_MOLMO_COORD_RE = re.compile(r"([xy])(\d*)", re.ASCII)
_FULL_NUM_RE = re.compile(rf"\s*({_NUM})\s*", re.ASCII)


class AnswerFormat(Enum):
    """The answer formats a backend can be configured to parse."""

    ROBOREFER = "roborefer"
    ROBOPOINT = "robopoint"
    QWEN25 = "qwen2.5"
    QWEN3 = "qwen3"
    GEMINI = "gemini"
    MOLMO = "molmo"

    @classmethod
    def parse(cls, name: str) -> AnswerFormat:
        """Format from its configuration name (case-insensitive), or ValueError naming them all."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            known = "|".join(f.value for f in cls)
            raise ValueError(f"unknown answer format {name!r}; known: {known}") from None


def parse_points(
    text: str, fmt: AnswerFormat, model_image_size: tuple[int, int]
) -> tuple[Point, ...]:
    """Normalised (x, y) points of an answer, validated by ``validate_points``.

    ``model_image_size`` is (width, height) of the image the model saw; it maps the absolute
    pixels of QWEN25 answers to [0, 1]. Raises PARSE_ERROR or OUT_OF_IMAGE.
    """
    width, height = model_image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"model image size must be positive, got {model_image_size}")
    if len(text) > MAX_ANSWER_CHARS:
        raise RefPointError(
            Status.PARSE_ERROR,
            f"the answer has {len(text)} characters; the limit is {MAX_ANSWER_CHARS}",
        )
    points = read_points(text, fmt, model_image_size)
    if not points:
        raise RefPointError(
            Status.PARSE_ERROR, f"no {fmt.value} point in the answer {_excerpt(text)}", text
        )
    try:
        return validate_points(points)
    except RefPointError as err:
        raise RefPointError(err.status, err.message, text) from None


def read_points(
    text: str, fmt: AnswerFormat, model_image_size: tuple[int, int]
) -> tuple[Point, ...]:
    """Every point token of the answer region, normalised but NOT range-checked (a scorer counts
    points off the image as misses instead of clamping or dropping them). No size limit here:
    callers check ``MAX_ANSWER_CHARS`` first."""
    width, height = model_image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"model image size must be positive, got {model_image_size}")
    return tuple(_read_points(answer_region(text), fmt, width, height))


def validate_points(
    points: Iterable[Point], tolerance: float = DEFAULT_TOLERANCE
) -> tuple[Point, ...]:
    """Apply the module's out-of-range rule: clamp near misses, drop the rest.

    Returns the kept points in order; an empty input gives an empty tuple. Raises OUT_OF_IMAGE,
    naming the first offending point, when points were given but none is kept.
    """
    if not (math.isfinite(tolerance) and tolerance >= 0.0):
        raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")
    kept: list[Point] = []
    first_bad: Point | None = None
    for x, y in points:
        if _in_band(x, tolerance) and _in_band(y, tolerance):
            kept.append((_clamp01(x), _clamp01(y)))
        elif first_bad is None:
            first_bad = (x, y)
    if not kept and first_bad is not None:
        raise RefPointError(
            Status.OUT_OF_IMAGE,
            f"point ({first_bad[0]:.4g}, {first_bad[1]:.4g}) is outside the image "
            f"(normalised coordinates must lie in [{-tolerance:g}, {1 + tolerance:g}])",
        )
    return tuple(kept)


def format_roborefer_answer(points_norm: Iterable[Point]) -> str:
    """Points as RoboRefer writes them: ``[(0.341, 0.510), (0.352, 0.498)]``, 3 decimals."""
    parts = []
    for x, y in points_norm:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point ({x}, {y}) is not finite")
        parts.append(f"({x:.3f}, {y:.3f})")
    return "[" + ", ".join(parts) + "]"


def answer_region(text: str) -> str:
    """The part of the answer that holds points (see the module docstring)."""
    close = text.rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>") :]
    else:
        opening = text.find("<think>")
        if opening >= 0:
            text = text[:opening]
    start = text.find("<answer>")
    if start < 0:
        return text
    start += len("<answer>")
    end = text.find("</answer>", start)
    return text[start:] if end < 0 else text[start:end]


def _read_points(region: str, fmt: AnswerFormat, width: int, height: int) -> Iterator[Point]:
    """Raw normalised points (not yet range-checked) of one format."""
    if fmt in (AnswerFormat.ROBOREFER, AnswerFormat.ROBOPOINT):
        for m in _TUPLE_RE.finditer(region):
            yield from _finite(m.group(1), m.group(2), 1.0, 1.0)
    elif fmt in (AnswerFormat.QWEN25, AnswerFormat.QWEN3):
        sx, sy = (float(width), float(height)) if fmt is AnswerFormat.QWEN25 else (1e3, 1e3)
        for m in _LIST_OR_TUPLE_RE.finditer(region):
            x, y = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
            yield from _finite(x, y, sx, sy)
    elif fmt is AnswerFormat.GEMINI:
        for m in _GEMINI_RE.finditer(region):
            yield from _finite(m.group(2), m.group(1), 1e3, 1e3)  # written as [y, x]
    else:
        for m in _MOLMO_TAG_RE.finditer(region):
            yield from _molmo_tag_points(m.group(1))


def _molmo_tag_points(attributes: str) -> Iterator[Point]:
    """Points of one Molmo tag: ``x``/``y`` pairs and ``xN``/``yN`` pairs, in percent."""
    xs: dict[str, str] = {}
    ys: dict[str, str] = {}
    order: list[str] = []
    for m in _MOLMO_ATTR_RE.finditer(attributes):
        coord = _MOLMO_COORD_RE.fullmatch(m.group(1))
        if coord is None:
            continue  # alt="...", any other attribute
        axis, index = coord.groups()
        table = xs if axis == "x" else ys
        if index in table:
            continue  # a repeated attribute: the first one counts
        table[index] = m.group(2)
        if axis == "x":
            order.append(index)
    for index in order:
        if index not in ys:
            continue
        x_m = _FULL_NUM_RE.fullmatch(xs[index])
        y_m = _FULL_NUM_RE.fullmatch(ys[index])
        if x_m is not None and y_m is not None:
            yield from _finite(x_m.group(1), y_m.group(1), 100.0, 100.0)


def _finite(x_text: str, y_text: str, x_scale: float, y_scale: float) -> Iterator[Point]:
    """The point (x / x_scale, y / y_scale), or nothing if a number is not finite."""
    x = float(x_text) / x_scale
    y = float(y_text) / y_scale
    if math.isfinite(x) and math.isfinite(y):
        yield (x, y)


def _in_band(value: float, tolerance: float) -> bool:
    return math.isfinite(value) and -tolerance <= value <= 1.0 + tolerance


def _clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def _excerpt(text: str, limit: int = 80) -> str:
    return repr(text[:limit]) + ("..." if len(text) > limit else "")
