"""The embedded model's instruction parser: every prompt the simulator's generator writes parses
into the tree that generated it (same structure, same step count); text outside the language is
refused with a message naming where reading stopped."""

from __future__ import annotations

import numpy as np
import pytest

from roborefer_ros.backends.embedded.language import (
    COLOURS,
    KINDS,
    SIZES,
    InstructionError,
    Noun,
    ObjectRef,
    Ordinal,
    PlaceRef,
    Program,
    Related,
    Relation,
    Superlative,
    parse_instruction,
)
from roborefer_ros.sim import (
    PALETTE,
    Description,
    ObjectKind,
    OrdinalClause,
    PlaceDescription,
    build_scene,
    generate_referring,
)
from roborefer_ros.sim import Relation as SimRelation
from roborefer_ros.sim import Side as SimSide
from roborefer_ros.sim.spec import SIZE_SCALE


def expected(description: Description) -> ObjectRef:
    """The generator's tree in the parser's types."""
    noun = Noun(description.head.kind.value, description.head.colour, description.head.size)
    clause = description.clause
    if clause is None:
        return ObjectRef(noun)
    if isinstance(clause, OrdinalClause):
        return ObjectRef(noun, Ordinal(clause.rank, clause.side is SimSide.LEFT))
    if clause.relation in (SimRelation.NEAREST, SimRelation.FARTHEST):
        return ObjectRef(noun, Superlative(clause.relation is SimRelation.NEAREST))
    anchors = tuple(expected(a) for a in clause.anchors)
    return ObjectRef(noun, Related(Relation(clause.relation.value), anchors))


def test_the_vocabulary_is_the_simulators() -> None:
    assert set(KINDS) == {k.value for k in ObjectKind}
    assert set(COLOURS) == set(PALETTE)
    assert set(SIZES) == set(SIZE_SCALE)


def test_every_generated_prompt_parses_into_its_own_tree() -> None:
    seen_relations: set[Relation] = set()
    clauses: set[type] = set()
    for seed in range(6):
        with build_scene(seed, "none") as scene:
            frame = scene.render(0.0)
            queries = generate_referring(
                scene.spec, frame, 30, np.random.default_rng(seed), place_share=0.4
            )
        for query in queries:
            program = parse_instruction(query.prompt)
            desc = query.description
            want: Program
            if isinstance(desc, PlaceDescription):
                want = PlaceRef(
                    Relation(desc.relation.value), tuple(expected(a) for a in desc.anchors)
                )
            else:
                want = expected(desc)
            assert program == want, query.prompt
            assert program.steps == query.steps
            if isinstance(program, ObjectRef) and program.clause is not None:
                clauses.add(type(program.clause))
                if isinstance(program.clause, Related):
                    seen_relations.add(program.clause.relation)
    assert clauses == {Ordinal, Superlative, Related}  # the sample covers every clause kind
    assert len(seen_relations) >= 4


@pytest.mark.parametrize(
    ("text", "program"),
    [
        ("the red cup", ObjectRef(Noun("cup", "red"))),
        ("Pick up the big box.", ObjectRef(Noun("box", None, "big"))),
        (
            "the second small apple from the right",
            ObjectRef(Noun("apple", None, "small"), Ordinal(2, from_left=False)),
        ),
        ("the leftmost plate", ObjectRef(Noun("plate"), Ordinal(1, from_left=True))),
        ("the cake farthest from the camera", ObjectRef(Noun("cake"), Superlative(False))),
        (
            "the apple that is on the plate",
            ObjectRef(Noun("apple"), Related(Relation.ON, (ObjectRef(Noun("plate")),))),
        ),
        (
            "place it in the free area between the cup and the white box",
            PlaceRef(Relation.BETWEEN, (ObjectRef(Noun("cup")), ObjectRef(Noun("box", "white")))),
        ),
    ],
)
def test_hand_written_instructions(text: str, program: Program) -> None:
    assert parse_instruction(text) == program


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("the purple dog", "expected an object kind .* got 'dog' \\(word 3\\)"),
        ("the cup near the plate", "expected the end of the instruction, got 'near'"),
        ("the free space on the plate", "expected a relation"),
        ("the cup to the left of", "expected 'the', got the end"),
        ("the cup (red)", "plain words"),
        ("the fifth cup from the left", "expected an object kind"),
    ],
)
def test_text_outside_the_language_is_refused(text: str, message: str) -> None:
    with pytest.raises(InstructionError, match=message):
        parse_instruction(text)
