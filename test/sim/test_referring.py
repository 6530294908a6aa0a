"""Generated referring expressions, checked geometrically by an independent interpreter.

The interpreter below evaluates each expression tree on the rendered frame with the documented
boundary definitions (no margins): image x from the mask centroid, camera distance from the
object's centre, "between" on the table plane, "on" from the geometry of the two objects. Every
locate expression must resolve to exactly its target; every placement must be a free, visible
table point on the stated side of its (uniquely resolved) anchors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.core.referring import dump_referring, load_referring, normalise_prompt
from roborefer_ros.core.request import Mode, resolve_mode
from roborefer_ros.sim import (
    SEG_TABLE,
    CameraMotion,
    Description,
    GeneratedQuery,
    OrdinalClause,
    PlaceDescription,
    Relation,
    RelationClause,
    RenderedFrame,
    SceneSpec,
    Side,
    build_scene,
    generate_referring,
    referring_set,
)
from roborefer_ros.sim.referring import PLACE_CLEARANCE_M
from roborefer_ros.sim.relations import BETWEEN_FRACTION, BETWEEN_OFFSET_M, LATERAL_BAND_M
from test.sim._geometry import backproject, surface_distance

Case = tuple[SceneSpec, RenderedFrame, list[GeneratedQuery]]
SEEDS = (1, 7, 11, 23)
PER_FRAME = 30


@pytest.fixture(scope="module")
def cases() -> Iterator[list[Case]]:
    out: list[Case] = []
    for seed in SEEDS:
        motion = CameraMotion(azimuth_amplitude_rad=0.25, period_s=4.0)
        with build_scene(seed, camera_motion=motion) as scene:
            for t_s in (0.0, 1.0) if seed == SEEDS[0] else (0.0,):
                frame = scene.render(t_s)
                rng = np.random.default_rng(seed)
                out.append(
                    (scene.spec, frame, generate_referring(scene.spec, frame, PER_FRAME, rng))
                )
    yield out


def all_queries(cases: list[Case]) -> Iterator[tuple[SceneSpec, RenderedFrame, GeneratedQuery]]:
    for spec, frame, queries in cases:
        for query in queries:
            yield spec, frame, query


# ---- the independent interpreter ----


class Interpreter:
    def __init__(self, spec: SceneSpec, frame: RenderedFrame) -> None:
        self.spec, self.frame = spec, frame
        self.T_optical_from_base = frame.T_base_from_optical.inverse()
        self.seen = [o.index for o in spec.objects if (frame.labels == o.index).any()]

    def u(self, index: int) -> float:
        return float(np.nonzero(self.frame.labels == index)[1].mean())

    def optical(self, point: tuple[float, float, float]) -> np.ndarray:
        return self.T_optical_from_base.apply(np.asarray(point))

    def distance(self, index: int) -> float:
        return float(np.linalg.norm(self.optical(self.spec.objects[index].position_m)))

    def resolve(self, desc: Description) -> set[int]:
        cands = [i for i in self.seen if desc.head.matches(self.spec.objects[i])]
        clause = desc.clause
        if clause is None:
            return set(cands)
        if isinstance(clause, OrdinalClause):
            ordered = sorted(cands, key=self.u)
            if clause.side is Side.RIGHT:
                ordered.reverse()
            assert len(ordered) >= max(2, clause.rank)
            return {ordered[clause.rank - 1]}
        if clause.relation in (Relation.NEAREST, Relation.FARTHEST):
            pick = min if clause.relation is Relation.NEAREST else max
            assert len(cands) >= 2
            return {pick(cands, key=self.distance)}
        anchors = [self.only(a) for a in clause.anchors]
        return {c for c in cands if c not in anchors and self.holds(clause.relation, c, anchors)}

    def only(self, desc: Description) -> int:
        found = self.resolve(desc)
        assert len(found) == 1, (desc.text(), found)
        return found.pop()

    def holds(self, relation: Relation, c: int, anchors: list[int]) -> bool:
        obj = self.spec.objects[c]
        if relation is Relation.ON:
            base = self.spec.objects[anchors[0]]
            rests = abs(obj.bottom_z_m - base.top_z_m) < 1e-6
            inside = math.dist(obj.position_m[:2], base.position_m[:2]) < base.dims_m[0]
            return rests and inside
        if relation is Relation.BETWEEN:
            return self.between(obj.position_m, anchors)
        return self.beside(relation, self.u(c), obj.position_m, anchors[0])

    def beside(
        self, relation: Relation, u: float, point: tuple[float, float, float], anchor: int
    ) -> bool:
        other = self.spec.objects[anchor].position_m
        if relation is Relation.LEFT_OF:
            return u < self.u(anchor)
        if relation is Relation.RIGHT_OF:
            return u > self.u(anchor)
        p, q = self.optical(point), self.optical(other)
        inline = abs(p[0] - q[0]) <= LATERAL_BAND_M
        nearer = float(np.linalg.norm(p)) < float(np.linalg.norm(q))
        assert relation in (Relation.IN_FRONT_OF, Relation.BEHIND)
        return inline and (nearer if relation is Relation.IN_FRONT_OF else not nearer)

    def between(self, point: tuple[float, float, float], anchors: list[int]) -> bool:
        p = np.asarray(point[:2])
        b, c = (np.asarray(self.spec.objects[a].position_m[:2]) for a in anchors)
        seg = c - b
        t = float((p - b) @ seg) / float(seg @ seg)
        offset = abs(float(seg[0] * (p - b)[1] - seg[1] * (p - b)[0])) / float(np.linalg.norm(seg))
        return BETWEEN_FRACTION[0] <= t <= BETWEEN_FRACTION[1] and offset <= BETWEEN_OFFSET_M


# ---- tests ----


def test_enough_varied_queries(cases: list[Case]) -> None:
    for _, _, queries in cases:
        assert len(queries) >= PER_FRAME * 2 // 3
    queries = [q for _, _, q in all_queries(cases)]
    steps = {q.steps for q in queries}
    assert {1, 2, 3, 4, 5} <= steps
    modes = [q.mode for q in queries]
    assert 0.15 < modes.count(Mode.PLACE) / len(modes) < 0.5
    relations = set()
    for q in queries:
        for clause in _clauses(q.description):
            relations.add(clause.relation if isinstance(clause, RelationClause) else "ordinal")
    wanted = {Relation.LEFT_OF, Relation.RIGHT_OF, Relation.IN_FRONT_OF, Relation.BEHIND}
    assert wanted | {Relation.BETWEEN, "ordinal", Relation.ON} <= relations


def test_prompts_are_unique_per_frame_and_read_as_their_mode(cases: list[Case]) -> None:
    for _, _, queries in cases:
        prompts = [normalise_prompt(q.prompt) for q in queries]
        assert len(set(prompts)) == len(prompts)
    for _, _, q in all_queries(cases):
        assert resolve_mode(Mode.AUTO, q.prompt) is q.mode, q.prompt
        assert q.prompt == q.description.text()
        assert 1 <= q.steps <= 5 and q.steps == q.description.steps


def test_every_locate_prompt_has_exactly_its_target(cases: list[Case]) -> None:
    checked = 0
    for spec, frame, q in all_queries(cases):
        if q.mode is Mode.LOCATE:
            assert isinstance(q.description, Description)
            assert q.description.referent == q.target_index
            assert Interpreter(spec, frame).resolve(q.description) == {q.target_index}, q.prompt
            checked += 1
    assert checked > 50


def test_locate_pixel_mask_and_point(cases: list[Case]) -> None:
    for spec, frame, q in all_queries(cases):
        if q.mode is not Mode.LOCATE:
            continue
        assert q.target_index is not None
        np.testing.assert_array_equal(q.mask, frame.labels == q.target_index)
        u, v = int(q.pixel[0]), int(q.pixel[1])
        assert (u, v) == q.pixel
        assert q.mask[v - 1 : v + 2, u - 1 : u + 2].all()  # inside, not on the border
        point = backproject(frame, [u], [v])[0]
        np.testing.assert_allclose(q.point_base, point, atol=1e-5)
        obj = spec.objects[q.target_index]
        assert abs(surface_distance(obj, point[None, :])[0]) < 0.002
        assert q.tolerance_m >= 0.03


def test_placements_are_free_visible_and_on_the_stated_side(cases: list[Case]) -> None:
    checked = 0
    for spec, frame, q in all_queries(cases):
        if q.mode is not Mode.PLACE:
            continue
        desc = q.description
        assert isinstance(desc, PlaceDescription) and q.target_index is None
        x, y, z = q.point_base
        assert z == 0.0 and spec.table.contains_xy(x, y, PLACE_CLEARANCE_M)
        for obj in spec.objects:
            gap = math.dist((x, y), obj.position_m[:2]) - obj.footprint_radius_m
            assert gap >= PLACE_CLEARANCE_M - 1e-9, (q.prompt, obj.name)
        u, v = round(q.pixel[0]), round(q.pixel[1])
        assert frame.labels[v, u] == SEG_TABLE  # visible: not hidden behind an object
        assert math.dist(backproject(frame, [u], [v])[0], q.point_base) < 0.005
        assert q.mask[v, u] and (frame.labels[q.mask] == SEG_TABLE).all()
        interp = Interpreter(spec, frame)
        anchors = [interp.only(a) for a in desc.anchors]
        if desc.relation is Relation.BETWEEN:
            assert interp.between(q.point_base, anchors), q.prompt
        else:
            assert interp.beside(desc.relation, q.pixel[0], q.point_base, anchors[0]), q.prompt
        checked += 1
    assert checked > 20


def test_every_description_in_a_chain_denotes_its_referent(cases: list[Case]) -> None:
    """Anchors too: each nested description resolves to exactly the object it was made for."""
    nested = 0
    for spec, frame, q in all_queries(cases):
        interp = Interpreter(spec, frame)
        for desc in _descriptions(q.description):
            assert interp.resolve(desc) == {desc.referent}, (q.prompt, desc.text())
            nested += desc is not q.description
    assert nested > 100


def test_relations_hold_geometrically(cases: list[Case]) -> None:
    """Every stated clause, at every depth of every chain, holds for the objects it names."""
    checked = 0
    for spec, frame, q in all_queries(cases):
        interp = Interpreter(spec, frame)
        for desc in _descriptions(q.description):
            clause = desc.clause
            if not isinstance(clause, RelationClause) or not clause.anchors:
                continue
            subject = desc.referent
            anchors = [a.referent for a in clause.anchors]
            if clause.relation is Relation.LEFT_OF:
                assert interp.u(subject) < interp.u(anchors[0])
            elif clause.relation is Relation.RIGHT_OF:
                assert interp.u(subject) > interp.u(anchors[0])
            elif clause.relation in (Relation.IN_FRONT_OF, Relation.BEHIND):
                nearer = interp.distance(subject) < interp.distance(anchors[0])
                assert nearer is (clause.relation is Relation.IN_FRONT_OF), desc.text()
            elif clause.relation is Relation.ON:
                assert spec.objects[subject].bottom_z_m == pytest.approx(
                    spec.objects[anchors[0]].top_z_m
                )
            else:
                assert interp.between(spec.objects[subject].position_m, anchors)
            checked += 1
    assert checked > 100


def test_ordinals_and_superlatives_rank_correctly(cases: list[Case]) -> None:
    """Sorting the candidates by image x (or camera distance) puts the referent at the rank."""
    ordinals = superlatives = 0
    for spec, frame, q in all_queries(cases):
        interp = Interpreter(spec, frame)
        for desc in _descriptions(q.description):
            cands = [i for i in interp.seen if desc.head.matches(spec.objects[i])]
            if isinstance(desc.clause, OrdinalClause):
                by_x = sorted(cands, key=interp.u)
                if desc.clause.side is Side.RIGHT:
                    by_x.reverse()
                assert by_x.index(desc.referent) + 1 == desc.clause.rank, desc.text()
                rank = desc.clause.rank
                word = "most" if rank == 1 else {2: "second", 3: "third"}[rank]
                assert word in desc.text() and desc.clause.side.value in desc.text()
                ordinals += 1
            elif isinstance(desc.clause, RelationClause) and not desc.clause.anchors:
                by_range = sorted(cands, key=interp.distance)
                pick = 0 if desc.clause.relation is Relation.NEAREST else -1
                assert by_range[pick] == desc.referent and len(cands) >= 2, desc.text()
                superlatives += 1
    assert ordinals >= 5 and superlatives >= 5


def test_converts_to_the_referring_schema(cases: list[Case], tmp_path: Path) -> None:
    _, frame, queries = cases[1]  # the moved frame of the first scene: t = 1 s
    assert frame.t_s == 1.0
    path = tmp_path / "referring.json"
    dump_referring(referring_set(queries, stamp_offset_ns=5_000_000_000), path)
    loaded = load_referring(path)
    assert loaded.target_frame == "base_link"
    assert len(loaded.queries) == len(queries)
    for read, q in zip(loaded.queries, queries, strict=True):
        assert read.stamp_ns == 6_000_000_000
        assert read.prompt == q.prompt and read.mode is q.mode
        assert read.pixel == pytest.approx(q.pixel) and read.point == pytest.approx(q.point_base)
    assert queries[0].to_referring_query().stamp_ns == 1_000_000_000


def test_same_seed_same_queries(cases: list[Case]) -> None:
    spec, frame, queries = cases[0]
    again = generate_referring(spec, frame, PER_FRAME, np.random.default_rng(SEEDS[0]))
    assert [q.prompt for q in again] == [q.prompt for q in queries]


def _descriptions(desc: Description | PlaceDescription) -> Iterator[Description]:
    """Every object description in the tree, the root first."""
    anchors: tuple[Description, ...]
    if isinstance(desc, PlaceDescription):
        anchors = desc.anchors
    else:
        yield desc
        anchors = desc.clause.anchors if isinstance(desc.clause, RelationClause) else ()
    for anchor in anchors:
        yield from _descriptions(anchor)


def _clauses(desc: Description | PlaceDescription) -> Iterator[RelationClause | OrdinalClause]:
    if isinstance(desc, PlaceDescription):
        yield RelationClause(desc.relation, desc.anchors)
    for d in _descriptions(desc):
        if d.clause is not None:
            yield d.clause
