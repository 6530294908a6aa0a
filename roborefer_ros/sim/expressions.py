"""Referring expressions as small trees, so the words and the meaning come from one structure.

A ``Description`` picks one object: a head noun phrase ("the big red cup") narrowed by at most one
clause, an ordinal ("the second cup from the left") or a relation to other descriptions ("the
apple in front of the cup that is to the left of the plate"). A ``PlaceDescription`` picks free
table space next to or between described objects. ``steps`` counts the grounding operations a
reader performs: a head alone is 1; an ordinal or a superlative adds 1; a relation adds 1 to the
steps of its anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

from roborefer_ros.sim.relations import Relation, Side
from roborefer_ros.sim.spec import ObjectKind, ObjectSpec

_ORDINALS = {2: "second", 3: "third", 4: "fourth"}
_SUPERLATIVES = (Relation.NEAREST, Relation.FARTHEST)


@dataclass(frozen=True)
class NounPhrase:
    """Kind plus optional colour and size; matches every object with those attributes."""

    kind: ObjectKind
    colour: str | None = None
    size: str | None = None

    def matches(self, obj: ObjectSpec) -> bool:
        return (
            obj.kind is self.kind
            and self.colour in (None, obj.colour_name)
            and self.size in (None, obj.size_name)
        )

    def words(self) -> str:
        """Without the article: "big red cup"."""
        return " ".join(w for w in (self.size, self.colour, self.kind.value) if w)


@dataclass(frozen=True)
class OrdinalClause:
    rank: int  # 1 = first from ``side``
    side: Side


@dataclass(frozen=True)
class RelationClause:
    """NEAREST / FARTHEST take no anchor, BETWEEN two, the others one."""

    relation: Relation
    anchors: tuple[Description, ...] = ()


@dataclass(frozen=True)
class Description:
    """``referent``: the object index it was generated for (the answer, kept for checking)."""

    referent: int
    head: NounPhrase
    clause: OrdinalClause | RelationClause | None = None

    @property
    def steps(self) -> int:
        if self.clause is None:
            return 1
        if isinstance(self.clause, OrdinalClause) or not self.clause.anchors:
            return 2
        return 1 + sum(a.steps for a in self.clause.anchors)

    def text(self, as_anchor: bool = False) -> str:
        """The phrase; ``as_anchor`` puts "that is" before a relation so nesting reads clearly."""
        clause, words = self.clause, self.head.words()
        if clause is None:
            return f"the {words}"
        if isinstance(clause, OrdinalClause):
            if clause.rank == 1:
                return f"the {clause.side.value}most {words}"
            return f"the {_ORDINALS[clause.rank]} {words} from the {clause.side.value}"
        link = " that is" if as_anchor else ""
        if clause.relation in _SUPERLATIVES:
            return f"the {words}{link} {clause.relation.value}"
        return f"the {words}{link} {_relation_text(clause.relation, clause.anchors)}"


@dataclass(frozen=True)
class PlaceDescription:
    """Free table space ``relation`` the anchors (one anchor, or two for BETWEEN)."""

    relation: Relation
    anchors: tuple[Description, ...]
    noun: str = "free space"  # "free space" | "free area" | "empty space": AUTO mode reads PLACE

    @property
    def steps(self) -> int:
        return 1 + sum(a.steps for a in self.anchors)

    def text(self) -> str:
        return f"the {self.noun} {_relation_text(self.relation, self.anchors)}"


def _relation_text(relation: Relation, anchors: tuple[Description, ...]) -> str:
    if relation is Relation.BETWEEN:
        first, second = anchors
        return f"between {first.text(True)} and {second.text(True)}"
    (anchor,) = anchors
    return f"{relation.value} {anchor.text(True)}"
