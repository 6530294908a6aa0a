"""Generate referring expressions with exact answers from a rendered scene.

Every expression names exactly one referent: each clause is stated only when it is TRUE for the
target with a margin and FALSE with a margin for every other candidate of the same noun phrase
(see ``relations``), and a noun phrase is not used at all while a barely visible object could
also match it. Placement prompts name free table space next to or between uniquely described
objects; their answer is a free, visible table point and a disc of free table around it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.referring import ReferringQuery, ReferringSet, normalise_prompt
from roborefer_ros.core.request import Mode
from roborefer_ros.sim.camera_rig import BASE_FRAME
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.expressions import (
    Description,
    NounPhrase,
    OrdinalClause,
    PlaceDescription,
    RelationClause,
)
from roborefer_ros.sim.ground_truth import (
    interior_pixel,
    is_free_spot,
    point_at_pixel,
    points_base,
    project_to_pixel,
    table_disc_mask,
)
from roborefer_ros.sim.relations import (
    RANGE_MARGIN_M,
    U_MARGIN_PX,
    Relation,
    SceneView,
    Side,
    Truth,
    between,
    binary,
    separated,
)
from roborefer_ros.sim.render import RenderedFrame
from roborefer_ros.sim.spec import SceneSpec

BoolImage = npt.NDArray[np.bool_]
Point3 = tuple[float, float, float]

PLACE_CLEARANCE_M = 0.05  # a placement point is this far from every footprint (disc radius)
PLACE_TOLERANCE_M = 0.06
MIN_LOCATE_TOLERANCE_M = 0.03  # locate tolerance: the object's footprint radius, at least this
_LOCATE_STEP_WEIGHTS = {1: 0.15, 2: 0.3, 3: 0.25, 4: 0.2, 5: 0.1}
_PLACE_STEP_WEIGHTS = {2: 0.5, 3: 0.35, 4: 0.15}
_UNARY = (Relation.LEFT_OF, Relation.RIGHT_OF, Relation.IN_FRONT_OF, Relation.BEHIND)
_PLACE_NOUNS = ("free space", "free area", "empty space")
_MAX_ORDINAL_RANK = 3
_ANCHORS_TRIED = 3


@dataclass(frozen=True)
class GeneratedQuery:
    """One prompt with its answer in one frame.

    ``pixel``: (u, v) in the colour image; for objects an integer pixel inside the mask near its
    centroid, for placements the projection of ``point_base``. ``mask``: HxW bool of the object's
    visible pixels, or of the free table disc of a placement. ``point_base``: metres in base_link.
    """

    prompt: str
    mode: Mode  # LOCATE or PLACE
    steps: int
    target_index: int | None  # None for a placement
    pixel: tuple[float, float]
    mask: BoolImage
    point_base: tuple[float, float, float]
    tolerance_m: float
    description: Description | PlaceDescription
    t_s: float

    def to_referring_query(self, stamp_ns: int | None = None) -> ReferringQuery:
        """The ``referring.json`` entry; ``stamp_ns`` defaults to the frame's scene time."""
        return ReferringQuery(
            prompt=self.prompt,
            stamp_ns=round(self.t_s * 1e9) if stamp_ns is None else stamp_ns,
            pixel=self.pixel,
            point=self.point_base,
            mode=self.mode,
            tolerance_m=self.tolerance_m,
        )


def referring_set(
    queries: Sequence[GeneratedQuery], stamp_offset_ns: int = 0, target_frame: str = BASE_FRAME
) -> ReferringSet:
    """The queries as a ReferringSet, stamped at ``stamp_offset_ns`` + their scene time."""
    return ReferringSet(
        target_frame=target_frame,
        queries=tuple(q.to_referring_query(stamp_offset_ns + round(q.t_s * 1e9)) for q in queries),
    )


def generate_referring(
    spec: SceneSpec,
    frame: RenderedFrame,
    n: int,
    rng: np.random.Generator,
    *,
    place_share: float = 0.3,
    max_steps: int = 5,
) -> list[GeneratedQuery]:
    """Up to ``n`` distinct unambiguous queries about ``frame`` (fewer when the scene allows
    fewer); about ``place_share`` of them placements; steps between 1 and ``max_steps``."""
    if n < 0 or not 0.0 <= place_share <= 1.0 or not 1 <= max_steps <= 5:
        raise SimError(f"bad request: n={n}, place_share={place_share}, max_steps={max_steps}")
    gen = _Generator(SceneView.build(spec, frame), rng)
    queries: list[GeneratedQuery] = []
    prompts: set[str] = set()
    for _ in range(40 * n):
        if len(queries) >= n or not gen.view.referable:
            break
        if rng.random() < place_share:
            query = gen.place_query(_draw(rng, _PLACE_STEP_WEIGHTS, max_steps))
        else:
            query = gen.locate_query(_draw(rng, _LOCATE_STEP_WEIGHTS, max_steps))
        if query is not None and normalise_prompt(query.prompt) not in prompts:
            prompts.add(normalise_prompt(query.prompt))
            queries.append(query)
    return queries


class _Generator:
    """Random search for descriptions over one SceneView."""

    def __init__(self, view: SceneView, rng: np.random.Generator) -> None:
        self.view = view
        self.rng = rng
        self.spec = view.spec
        self.frame: RenderedFrame = view.frame
        self._points = points_base(view.frame)
        self._failed: set[tuple[int, int, frozenset[int]]] = set()

    # ---- queries ----

    def locate_query(self, steps: int) -> GeneratedQuery | None:
        target = int(self.rng.choice(sorted(self.view.referable)))
        desc = self.describe(target, steps, frozenset())
        if desc is None:
            return None
        truth = self.view.truths[target]
        pixel = interior_pixel(truth.mask)
        if pixel is None:
            return None
        point = point_at_pixel(self.frame, *pixel)
        obj = self.spec.objects[target]
        return GeneratedQuery(
            prompt=desc.text(),
            mode=Mode.LOCATE,
            steps=desc.steps,
            target_index=target,
            pixel=(float(pixel[0]), float(pixel[1])),
            mask=truth.mask,
            point_base=_vec3(point),
            tolerance_m=max(MIN_LOCATE_TOLERANCE_M, obj.footprint_radius_m),
            description=desc,
            t_s=self.frame.t_s,
        )

    def place_query(self, steps: int) -> GeneratedQuery | None:
        found = self._between_place() if steps == 3 and self.rng.random() < 0.4 else None
        if found is None:
            found = self._unary_place(steps)
        if found is None:
            return None
        desc, point = found
        return GeneratedQuery(
            prompt=desc.text(),
            mode=Mode.PLACE,
            steps=desc.steps,
            target_index=None,
            pixel=project_to_pixel(self.frame, point),
            mask=table_disc_mask(self.frame, point, PLACE_CLEARANCE_M, self._points),
            point_base=point,
            tolerance_m=PLACE_TOLERANCE_M,
            description=desc,
            t_s=self.frame.t_s,
        )

    # ---- placements ----

    def _unary_place(self, steps: int) -> tuple[PlaceDescription, Point3] | None:
        relation = _UNARY[int(self.rng.integers(len(_UNARY)))]
        for anchor in self._shuffled(self.view.referable)[:_ANCHORS_TRIED]:
            point = self._free_point_beside(anchor, relation)
            if point is None:
                continue
            desc = self.describe(anchor, steps - 1, frozenset())
            if desc is not None:
                return PlaceDescription(relation, (desc,), self._place_noun()), point
        return None

    def _between_place(self) -> tuple[PlaceDescription, Point3] | None:
        objs = self._shuffled(self.view.referable)
        for i, a in enumerate(objs):
            for b in objs[i + 1 :]:
                pa, pb = self.spec.objects[a], self.spec.objects[b]
                gap = math.dist(pa.position_m[:2], pb.position_m[:2])
                if gap - pa.footprint_radius_m - pb.footprint_radius_m < 3 * PLACE_CLEARANCE_M:
                    continue
                mid = (
                    (pa.position_m[0] + pb.position_m[0]) / 2,
                    (pa.position_m[1] + pb.position_m[1]) / 2,
                    0.0,
                )
                if not is_free_spot(self.spec, self.frame, mid[0], mid[1], PLACE_CLEARANCE_M):
                    continue
                places = self.view.places
                if between(self.view.point_place(mid), places[a], places[b]) is not Truth.TRUE:
                    continue
                da = self.describe(a, 1, frozenset())
                db = self.describe(b, 1, frozenset())
                if da is not None and db is not None:
                    desc = PlaceDescription(Relation.BETWEEN, (da, db), self._place_noun())
                    return desc, mid
        return None

    def _free_point_beside(
        self, anchor: int, relation: Relation
    ) -> tuple[float, float, float] | None:
        """The nearest free, visible table point on the ``relation`` side of ``anchor``."""
        obj = self.spec.objects[anchor]
        centre = np.asarray(obj.position_m[:2])
        rotation = self.frame.T_base_from_optical.rotation_matrix()
        right = rotation[:2, 0] / np.linalg.norm(rotation[:2, 0])
        eye = np.asarray(self.frame.T_base_from_optical.translation[:2])
        towards = (eye - centre) / np.linalg.norm(eye - centre)
        direction = {
            Relation.LEFT_OF: -right,
            Relation.RIGHT_OF: right,
            Relation.IN_FRONT_OF: towards,
            Relation.BEHIND: -towards,
        }[relation]
        across = np.array([-direction[1], direction[0]])
        start = obj.footprint_radius_m + PLACE_CLEARANCE_M + 0.01
        for distance in np.arange(start, start + 0.2, 0.01):
            for side in (0.0, 0.03, -0.03):
                xy = centre + direction * distance + across * side
                point = (float(xy[0]), float(xy[1]), 0.0)
                if not is_free_spot(self.spec, self.frame, point[0], point[1], PLACE_CLEARANCE_M):
                    continue
                here = self.view.point_place(point)
                if binary(relation, here, self.view.places[anchor]) is Truth.TRUE:
                    return point
        return None

    def _place_noun(self) -> str:
        return _PLACE_NOUNS[int(self.rng.integers(len(_PLACE_NOUNS)))]

    # ---- descriptions ----

    def describe(self, target: int, steps: int, used: frozenset[int]) -> Description | None:
        """A description of ``target`` with exactly ``steps`` steps that avoids the objects in
        ``used`` as anchors, or None."""
        key = (target, steps, used)
        if steps < 1 or key in self._failed:
            return None
        if steps == 1:
            head = next((h for h in self._heads(target) if self._candidates(h) == [target]), None)
            found = Description(target, head) if head is not None else None
        else:
            options: list[Callable[[], Description | None]] = [
                lambda: self._related(target, steps, used)
            ]
            if steps == 2:
                options += [lambda: self._ordinal(target), lambda: self._superlative(target)]
            if steps == 3:
                options.append(lambda: self._between(target, used))
            found = None
            for index in self.rng.permutation(len(options)):
                found = options[int(index)]()
                if found is not None:
                    break
        if found is None:
            self._failed.add(key)
        return found

    def _related(self, target: int, steps: int, used: frozenset[int]) -> Description | None:
        relations = [_UNARY[int(i)] for i in self.rng.permutation(len(_UNARY))]
        # "on" is rare (only stacked objects have it), so it goes first whenever it applies.
        if self.spec.objects[target].support is not None:
            relations.insert(0, Relation.ON)
        for relation in relations:
            anchors = [
                a
                for a in self._shuffled(self.view.referable - used - {target})
                if self._holds(relation, target, a) is Truth.TRUE
            ]
            for anchor in anchors[:_ANCHORS_TRIED]:
                head = self._head(target, self._clause(relation, (anchor,)), exclude={anchor})
                if head is None:
                    continue
                desc = self.describe(anchor, steps - 1, used | {target})
                if desc is not None:
                    return Description(target, head, RelationClause(relation, (desc,)))
        return None

    def _between(self, target: int, used: frozenset[int]) -> Description | None:
        places = self.view.places
        others = self._shuffled(self.view.referable - used - {target})
        for i, a in enumerate(others):
            for b in others[i + 1 :]:
                if between(places[target], places[a], places[b]) is not Truth.TRUE:
                    continue
                head = self._head(target, self._clause(Relation.BETWEEN, (a, b)), exclude={a, b})
                da = self.describe(a, 1, used | {target})
                db = self.describe(b, 1, used | {target})
                if head is not None and da is not None and db is not None:
                    return Description(target, head, RelationClause(Relation.BETWEEN, (da, db)))
        return None

    def _ordinal(self, target: int) -> Description | None:
        for head in self._heads(target):
            cands = self._candidates(head)
            if cands is None or not 2 <= len(cands) <= 5:
                continue
            us = [self.view.places[c].u for c in cands]
            if not separated(us, U_MARGIN_PX):
                continue
            from_left = sorted(cands, key=lambda c: self.view.places[c].u).index(target) + 1
            from_right = len(cands) + 1 - from_left
            side, rank = (
                (Side.LEFT, from_left) if from_left <= from_right else (Side.RIGHT, from_right)
            )
            if rank <= _MAX_ORDINAL_RANK:
                return Description(target, head, OrdinalClause(rank, side))
        return None

    def _superlative(self, target: int) -> Description | None:
        relation = (Relation.NEAREST, Relation.FARTHEST)[int(self.rng.integers(2))]
        sign = 1.0 if relation is Relation.NEAREST else -1.0
        for head in self._heads(target):
            cands = self._candidates(head)
            if cands is None or len(cands) < 2:
                continue
            ranked = sorted(cands, key=lambda c: sign * self.view.places[c].range_m)
            first, second = (self.view.places[c].range_m for c in ranked[:2])
            if ranked[0] == target and abs(second - first) >= RANGE_MARGIN_M:
                return Description(target, head, RelationClause(relation))
        return None

    # ---- helpers ----

    def _holds(self, relation: Relation, a: int, b: int) -> Truth:
        if relation is Relation.ON:
            return Truth.TRUE if self.spec.objects[a].support == b else Truth.FALSE
        return binary(relation, self.view.places[a], self.view.places[b])

    def _clause(self, relation: Relation, anchors: tuple[int, ...]) -> Callable[[int], Truth]:
        """The truth of "<candidate> <relation> <anchors>" as a function of the candidate."""
        if relation is Relation.BETWEEN:
            b, c = (self.view.places[a] for a in anchors)
            return lambda x: between(self.view.places[x], b, c)
        return lambda x: self._holds(relation, x, anchors[0])

    def _heads(self, target: int) -> list[NounPhrase]:
        """Noun phrases for ``target`` from the least to the most specific."""
        obj = self.spec.objects[target]
        return [
            NounPhrase(obj.kind),
            NounPhrase(obj.kind, colour=obj.colour_name),
            NounPhrase(obj.kind, size=obj.size_name),
            NounPhrase(obj.kind, colour=obj.colour_name, size=obj.size_name),
        ]

    def _candidates(self, head: NounPhrase) -> list[int] | None:
        """The visible objects ``head`` matches; None if one of them is barely visible."""
        seen = [i for i in self.view.places if head.matches(self.spec.objects[i])]
        if any(i not in self.view.referable for i in seen):
            return None
        return seen

    def _head(
        self, target: int, clause: Callable[[int], Truth], exclude: set[int] | None = None
    ) -> NounPhrase | None:
        """The least specific head for which ``clause`` is TRUE for the target and FALSE for
        every other candidate (``exclude``: the anchors, which are not candidates)."""
        if clause(target) is not Truth.TRUE:
            return None
        for head in self._heads(target):
            cands = self._candidates(head)
            if cands is None:
                continue
            others = [c for c in cands if c != target and c not in (exclude or set())]
            if all(clause(c) is Truth.FALSE for c in others):
                return head
        return None

    def _shuffled(self, items: frozenset[int] | set[int]) -> list[int]:
        ordered = sorted(items)
        return [ordered[int(i)] for i in self.rng.permutation(len(ordered))]


def _draw(rng: np.random.Generator, weights: dict[int, float], max_steps: int) -> int:
    steps = [s for s in weights if s <= max_steps] or [min(weights)]
    p = np.array([weights[s] for s in steps])
    return int(rng.choice(steps, p=p / p.sum()))


def _vec3(v: npt.ArrayLike) -> tuple[float, float, float]:
    a = np.asarray(v, dtype=np.float64)
    return (float(a[0]), float(a[1]), float(a[2]))
