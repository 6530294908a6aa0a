"""Spatial relations as a person facing the camera's image would say them, in three-valued logic.

Semantics (the definitions the tests check against; "image x" is the column u):

- ``a`` LEFT_OF ``b``: a's image x is smaller than b's (objects: their visible mask centroid;
  free points: their projection). RIGHT_OF is the mirror.
- ``a`` IN_FRONT_OF ``b``: a is nearer the camera centre than b (distance of the object's centre)
  and roughly in line: their camera-frame x differ by at most LATERAL_BAND_M. BEHIND: the mirror.
- NEAREST / FARTHEST: smallest / largest camera distance among the candidates.
- ``a`` BETWEEN ``b`` and ``c`` (table plane): a's projection onto segment b->c falls at a
  fraction in BETWEEN_FRACTION and a lies at most BETWEEN_OFFSET_M off the segment.
- ``a`` ON ``b``: a rests on b (b supports it in the scene spec).

A generator states a relation only when it is TRUE with a margin and every competing candidate is
FALSE with a margin; UNSURE (inside the margins) never yields an expression, so a borderline
layout cannot produce a prompt a person would find ambiguous.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from roborefer_ros.sim.ground_truth import ObjectTruth, interior_pixel, object_truths
from roborefer_ros.sim.render import RenderedFrame
from roborefer_ros.sim.spec import SceneSpec

LATERAL_BAND_M = 0.15
BETWEEN_FRACTION = (0.2, 0.8)
BETWEEN_OFFSET_M = 0.07
MIN_REFERABLE_PX = 300  # fewer visible pixels: too little of the object to refer to it

U_MARGIN_PX = 40.0  # left/right and ordinals need this gap in image x (about 4-7 cm)
RANGE_MARGIN_M = 0.05  # superlatives need the runner-up at least this much farther
_LATERAL_MARGIN_M = 0.03
_BETWEEN_FRACTION_MARGIN = 0.05
_BETWEEN_OFFSET_MARGIN_M = 0.02


class Truth(Enum):
    TRUE = "true"
    FALSE = "false"
    UNSURE = "unsure"


class Relation(Enum):
    """A relation and the words that state it."""

    LEFT_OF = "to the left of"
    RIGHT_OF = "to the right of"
    IN_FRONT_OF = "in front of"
    BEHIND = "behind"
    BETWEEN = "between"
    ON = "on"
    NEAREST = "closest to the camera"
    FARTHEST = "farthest from the camera"


class Side(Enum):
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True)
class Place:
    """Where an object or a free point is, in the quantities the relations use."""

    u: float  # image column (mask centroid for objects)
    x_optical_m: float  # camera-frame x of its centre
    range_m: float  # distance of its centre from the camera centre
    xy_base: tuple[float, float]


def left_of(a: Place, b: Place) -> Truth:
    return _compare(b.u - a.u, U_MARGIN_PX)


def right_of(a: Place, b: Place) -> Truth:
    return left_of(b, a)


def in_front_of(a: Place, b: Place) -> Truth:
    nearer = _compare(b.range_m - a.range_m, RANGE_MARGIN_M)
    inline = _compare(LATERAL_BAND_M - abs(a.x_optical_m - b.x_optical_m), _LATERAL_MARGIN_M)
    return _and(nearer, inline)


def behind(a: Place, b: Place) -> Truth:
    nearer = _compare(a.range_m - b.range_m, RANGE_MARGIN_M)
    inline = _compare(LATERAL_BAND_M - abs(a.x_optical_m - b.x_optical_m), _LATERAL_MARGIN_M)
    return _and(nearer, inline)


def between(a: Place, b: Place, c: Place) -> Truth:
    """``a`` between ``b`` and ``c`` on the table plane."""
    p, q, r = (np.asarray(x.xy_base) for x in (a, b, c))
    seg = r - q
    length_sq = float(seg @ seg)
    if length_sq < 1e-12:
        return Truth.FALSE
    t = float((p - q) @ seg) / length_sq
    rel = p - q
    offset = abs(float(seg[0] * rel[1] - seg[1] * rel[0])) / math.sqrt(length_sq)
    lo, hi = BETWEEN_FRACTION
    inside = _and(
        _compare(t - lo, _BETWEEN_FRACTION_MARGIN), _compare(hi - t, _BETWEEN_FRACTION_MARGIN)
    )
    close = _compare(BETWEEN_OFFSET_M - offset, _BETWEEN_OFFSET_MARGIN_M)
    return _and(inside, close)


def binary(relation: Relation, a: Place, b: Place) -> Truth:
    """LEFT_OF / RIGHT_OF / IN_FRONT_OF / BEHIND between two places."""
    if relation is Relation.LEFT_OF:
        return left_of(a, b)
    if relation is Relation.RIGHT_OF:
        return right_of(a, b)
    if relation is Relation.IN_FRONT_OF:
        return in_front_of(a, b)
    if relation is Relation.BEHIND:
        return behind(a, b)
    raise ValueError(f"{relation} is not a binary spatial relation")


def separated(values: list[float], margin: float) -> bool:
    """Whether sorted ``values`` are pairwise at least ``margin`` apart (an ordering is clear)."""
    ordered = sorted(values)
    return all(b - a >= margin for a, b in itertools.pairwise(ordered))


@dataclass(frozen=True)
class SceneView:
    """The scene as one frame shows it: which objects can be referred to and where they are."""

    spec: SceneSpec
    frame: RenderedFrame
    truths: tuple[ObjectTruth, ...]
    places: dict[int, Place]  # every object with at least one visible pixel
    referable: frozenset[int]  # enough visible pixels and an interior pixel to point at

    @classmethod
    def build(cls, spec: SceneSpec, frame: RenderedFrame) -> SceneView:
        truths = object_truths(spec, frame)
        places: dict[int, Place] = {}
        referable = set()
        for truth in truths:
            if truth.centroid_uv is None:
                continue
            obj = spec.objects[truth.index]
            places[truth.index] = Place(
                u=truth.centroid_uv[0],
                x_optical_m=truth.centre_optical[0],
                range_m=truth.range_m,
                xy_base=(obj.position_m[0], obj.position_m[1]),
            )
            if truth.visible_px >= MIN_REFERABLE_PX and interior_pixel(truth.mask) is not None:
                referable.add(truth.index)
        return cls(spec, frame, truths, places, frozenset(referable))

    def point_place(self, point_base: tuple[float, float, float]) -> Place:
        """The Place of a free table point."""
        p = self.frame.T_base_from_optical.inverse().apply(np.asarray(point_base))
        u, _ = self.frame.camera.project(p)
        return Place(u, float(p[0]), float(np.linalg.norm(p)), (point_base[0], point_base[1]))


def _compare(value: float, margin: float) -> Truth:
    """TRUE when the defining quantity ``value`` is at least ``margin``, FALSE when it is at most
    ``-margin``, UNSURE in between."""
    if value >= margin:
        return Truth.TRUE
    if value <= -margin:
        return Truth.FALSE
    return Truth.UNSURE


def _and(a: Truth, b: Truth) -> Truth:
    if Truth.FALSE in (a, b):
        return Truth.FALSE
    if Truth.UNSURE in (a, b):
        return Truth.UNSURE
    return Truth.TRUE
