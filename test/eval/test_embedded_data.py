"""The embedded network's training samples say what the simulator's truth says: the grid
classes are the render's labels, each object's pointable pixel lies on it, the relation tables
are the generator's own relations, every placement's answer cell lies in its free disc, and a
shard reads back as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.backends.embedded.image import STRIDE
from roborefer_ros.backends.embedded.language import COLOURS, KINDS, SIZES, parse_instruction
from roborefer_ros.core.request import Mode
from roborefer_ros.eval.embedded_data import (
    CLS_OBJECT,
    CLS_TABLE,
    FIELD,
    PAIR_RELATIONS,
    TRAIN_SEEDS,
    VALIDATION_SEEDS,
    FrameSample,
    ViewKind,
    frame_sample,
    frames_of_seed,
    read_shard,
    view_kind,
    write_shard,
)
from roborefer_ros.sim import SEG_TABLE, RenderedFrame, SceneSpec, SceneView
from roborefer_ros.sim.relations import Relation, Truth, binary

SEED = 10003  # a tripod scene of the training range


@pytest.fixture(scope="module")
def rendered() -> tuple[SceneSpec, RenderedFrame, FrameSample]:
    spec, frame = next(iter(frames_of_seed(SEED)))
    return spec, frame, frame_sample(SEED, 0, spec, frame, np.random.default_rng(0))


def test_seed_ranges_are_disjoint_from_every_evaluation() -> None:
    assert set(TRAIN_SEEDS).isdisjoint(VALIDATION_SEEDS)
    for evaluated in (range(50), [3], range(1000, 1100)):  # sim batch, bundled bags, bench
        assert set(TRAIN_SEEDS).isdisjoint(evaluated)
    assert {view_kind(s) for s in range(10000, 10040)} == set(ViewKind)
    assert view_kind(SEED) is ViewKind.TRIPOD


def test_grid_and_objects_follow_the_render(
    rendered: tuple[SceneSpec, RenderedFrame, FrameSample],
) -> None:
    spec, frame, sample = rendered
    assert sample.image.shape == (240, 320, 3)
    gh, gw = sample.cls.shape
    assert (gh, gw) == (240 // STRIDE, 320 // STRIDE)
    centres = frame.labels[8 * np.arange(gh) + 4][:, 8 * np.arange(gw) + 4]
    assert np.array_equal(sample.cls == CLS_TABLE, centres == SEG_TABLE)
    assert np.array_equal(sample.cls == CLS_OBJECT, centres >= 0)
    assert np.array_equal(sample.obj[centres >= 0], centres[centres >= 0])
    assert np.all(np.isfinite(sample.clearance[sample.cls == CLS_TABLE]))
    assert np.all(np.isnan(sample.clearance[sample.cls != CLS_TABLE]))
    referable = SceneView.build(spec, frame).referable
    for index, obj in enumerate(spec.objects):
        row = sample.objects[index]
        assert KINDS[int(row[FIELD["kind"]])] == obj.kind.value
        assert COLOURS[int(row[FIELD["colour"]])] == obj.colour_name
        assert SIZES[int(row[FIELD["size"]])] == obj.size_name
        assert bool(row[FIELD["referable"]]) == (index in referable)
        if row[FIELD["u"]] > 0:  # the pointable pixel is on the object
            u = round(row[FIELD["u"]] * 640)
            v = round(row[FIELD["v"]] * 480)
            assert frame.labels[v, u] == index


def test_relation_tables_are_the_generators_relations(
    rendered: tuple[SceneSpec, RenderedFrame, FrameSample],
) -> None:
    spec, frame, sample = rendered
    view = SceneView.build(spec, frame)
    coded = {Truth.TRUE: 1, Truth.FALSE: 0, Truth.UNSURE: -1}
    checked = 0
    for i in view.places:
        for j in view.places:
            if i == j:
                continue
            for name, relation in (("left_of", Relation.LEFT_OF), ("behind", Relation.BEHIND)):
                r = PAIR_RELATIONS.index(name)
                assert (
                    sample.relations[r, i, j]
                    == coded[binary(relation, view.places[i], view.places[j])]
                )
                checked += 1
    assert checked > 20
    assert (sample.relations == 1).any() and (sample.relations == 0).any()


def test_queries_and_placements_carry_their_answers(
    rendered: tuple[SceneSpec, RenderedFrame, FrameSample],
) -> None:
    _, _, sample = rendered
    modes = {q.mode for q in sample.queries}
    assert modes == {Mode.LOCATE, Mode.PLACE}
    for query in sample.queries:
        parse_instruction(query.prompt)
        if query.mode is Mode.PLACE and query.target >= 0:
            relation, first, _, u, v = sample.places[query.target]
            assert relation >= 0 and first >= 0
            assert (u, v) == pytest.approx(query.pixel)
            assert sample.place_masks[query.target, int(v // STRIDE), int(u // STRIDE)]


def test_a_shard_reads_back_as_written(
    rendered: tuple[SceneSpec, RenderedFrame, FrameSample], tmp_path: Path
) -> None:
    _, _, sample = rendered
    path = tmp_path / "shard.npz"
    write_shard(path, [sample, sample])
    shard = read_shard(path)
    assert shard.arrays["image"].shape == (2, 240, 320, 3)
    assert np.array_equal(shard.arrays["relations"][1], sample.relations)
    assert np.array_equal(shard.arrays["surface"][0], sample.surface, equal_nan=True)
    assert [q for n, q in shard.queries if n == 1] == list(sample.queries)
