"""The instruction language of the embedded model: a closed vocabulary, parsed into a program.

The simulated tabletops' instructions come from a small grammar (``sim.expressions``): a noun
phrase (size, colour, kind) narrowed by at most one clause (an ordinal, a superlative, or a
relation to other descriptions, nested to any depth), or free table space beside or between
described objects. This module reads such text into a typed tree, the layout of the network's
modules (as neural module networks do), with no torch and no simulator: the words decide which
learned module runs, the image decides everything else.

Grammar (``NP`` = ``[size] [colour] kind``; "that is" before a clause is optional)::

    object   := "the" NP [clause]
              | "the" ("leftmost" | "rightmost") NP
              | "the" ("second" | "third" | "fourth") NP "from the" ("left" | "right")
    clause   := "closest to the camera" | "farthest from the camera"
              | ("to the left of" | "to the right of" | "in front of" | "behind" | "on") object
              | "between" object "and" object
    place    := "the" ("free space" | "free area" | "empty space")
                (unary-relation object | "between" object "and" object)

A few leading words a person might add ("point to", "pick up", "place it in", ...) and a final
full stop are accepted. Anything else raises ``InstructionError`` naming the first word it could
not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

KINDS: tuple[str, ...] = ("cup", "apple", "plate", "box", "cake")
COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow", "orange", "purple", "pink", "white")
SIZES: tuple[str, ...] = ("small", "big")
PLACE_NOUNS: tuple[str, ...] = ("free space", "free area", "empty space")
_ORDINAL_WORDS = {"second": 2, "third": 3, "fourth": 4}
_LEADING = (
    "please",
    "point to",
    "point at",
    "locate",
    "find",
    "pick up",
    "grab",
    "take",
    "place it in",
    "place it on",
    "place it at",
    "put it in",
    "put it on",
    "put it at",
    "move it to",
    "place",
    "put",
)


class InstructionError(ValueError):
    """The text is outside the model's language; the message names where reading stopped."""


class Relation(Enum):
    """The relations the model has modules for; the value is how the text says it."""

    LEFT_OF = "to the left of"
    RIGHT_OF = "to the right of"
    IN_FRONT_OF = "in front of"
    BEHIND = "behind"
    ON = "on"
    BETWEEN = "between"


UNARY_RELATIONS: tuple[Relation, ...] = (
    Relation.LEFT_OF,
    Relation.RIGHT_OF,
    Relation.IN_FRONT_OF,
    Relation.BEHIND,
)


@dataclass(frozen=True)
class Noun:
    """A noun phrase: every object of ``kind`` with the given colour and size (None: any)."""

    kind: str
    colour: str | None = None
    size: str | None = None


@dataclass(frozen=True)
class Ordinal:
    """The ``rank``-th candidate counted from the left (``from_left``) or from the right."""

    rank: int
    from_left: bool


@dataclass(frozen=True)
class Superlative:
    """The candidate closest to (``nearest``) or farthest from the camera."""

    nearest: bool


@dataclass(frozen=True)
class Related:
    """Candidates that stand in ``relation`` to the anchor (one anchor, two for BETWEEN)."""

    relation: Relation
    anchors: tuple[ObjectRef, ...]


@dataclass(frozen=True)
class ObjectRef:
    """One object: the noun's candidates narrowed by at most one clause."""

    noun: Noun
    clause: Ordinal | Superlative | Related | None = None

    @property
    def steps(self) -> int:
        """Reasoning steps as the generator counts them: the noun is one, a clause adds one, a
        relation adds its anchors' steps."""
        if self.clause is None:
            return 1
        if isinstance(self.clause, Ordinal | Superlative):
            return 2
        return 1 + sum(a.steps for a in self.clause.anchors)


@dataclass(frozen=True)
class PlaceRef:
    """Free table space in ``relation`` to the anchors (one, or two for BETWEEN)."""

    relation: Relation
    anchors: tuple[ObjectRef, ...]

    @property
    def steps(self) -> int:
        return 1 + sum(a.steps for a in self.anchors)


Program = ObjectRef | PlaceRef

_WORD_RE = re.compile(r"[a-z]+")


def parse_instruction(text: str) -> Program:
    """The program of an instruction; InstructionError when it is outside the language."""
    cleaned = text.strip().lower().rstrip(".!")
    words = cleaned.split()
    if not words:
        raise InstructionError("the instruction is empty")
    for word in words:
        if not _WORD_RE.fullmatch(word):
            raise InstructionError(f"cannot read {word!r}: the model knows only plain words")
    reader = _Reader(_strip_leading(words))
    program: Program
    if reader.peek_phrase_in(PLACE_NOUNS, offset=1) is not None:
        program = reader.place()
    else:
        program = reader.object()
    reader.expect_end()
    return program


def _strip_leading(words: list[str]) -> list[str]:
    changed = True
    while changed and words:
        changed = False
        for lead in _LEADING:
            parts = lead.split()
            if words[: len(parts)] == parts and len(words) > len(parts):
                words = words[len(parts) :]
                changed = True
                break
    return words


class _Reader:
    """Recursive descent over the words; every method consumes what it reads."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.pos = 0

    def place(self) -> PlaceRef:
        self.expect("the")
        noun = self.peek_phrase_in(PLACE_NOUNS)
        if noun is None:
            self.fail("a place noun (free space, free area, empty space)")
        self.pos += len(noun.split())
        relation = self.relation()
        if relation is Relation.ON or relation is None:
            self.fail("a relation (to the left of, to the right of, in front of, behind, between)")
        return PlaceRef(relation, self.anchors(relation))

    def object(self) -> ObjectRef:
        self.expect("the")
        word = self.peek()
        if word in ("leftmost", "rightmost"):
            self.pos += 1
            return ObjectRef(self.noun(), Ordinal(1, word == "leftmost"))
        if word in _ORDINAL_WORDS:
            self.pos += 1
            noun = self.noun()
            self.expect("from")
            self.expect("the")
            side = self.peek()
            if side not in ("left", "right"):
                self.fail("left or right")
            self.pos += 1
            return ObjectRef(noun, Ordinal(_ORDINAL_WORDS[word], side == "left"))
        noun = self.noun()
        if self.peek_phrase("that is"):
            self.pos += 2
        for phrase, nearest in (
            ("closest to the camera", True),
            ("farthest from the camera", False),
        ):
            if self.peek_phrase(phrase):
                self.pos += len(phrase.split())
                return ObjectRef(noun, Superlative(nearest))
        relation = self.relation()
        if relation is None:
            return ObjectRef(noun)
        return ObjectRef(noun, Related(relation, self.anchors(relation)))

    def anchors(self, relation: Relation) -> tuple[ObjectRef, ...]:
        if relation is not Relation.BETWEEN:
            return (self.object(),)
        first = self.object()
        self.expect("and")
        return (first, self.object())

    def relation(self) -> Relation | None:
        for relation in Relation:
            if self.peek_phrase(relation.value):
                self.pos += len(relation.value.split())
                return relation
        return None

    def noun(self) -> Noun:
        size = colour = None
        if self.peek() in SIZES:
            size = self.take()
        if self.peek() in COLOURS:
            colour = self.take()
        kind = self.peek()
        if kind is None or kind not in KINDS:
            self.fail(f"an object kind ({', '.join(KINDS)})")
        self.pos += 1
        return Noun(kind, colour, size)

    # ---- low level ----

    def peek(self) -> str | None:
        return self.words[self.pos] if self.pos < len(self.words) else None

    def take(self) -> str:
        word = self.words[self.pos]
        self.pos += 1
        return word

    def peek_phrase(self, phrase: str, offset: int = 0) -> bool:
        parts = phrase.split()
        start = self.pos + offset
        return self.words[start : start + len(parts)] == parts

    def peek_phrase_in(self, phrases: tuple[str, ...], offset: int = 0) -> str | None:
        return next((p for p in phrases if self.peek_phrase(p, offset)), None)

    def expect(self, word: str) -> None:
        if self.peek() != word:
            self.fail(repr(word))
        self.pos += 1

    def expect_end(self) -> None:
        if self.pos != len(self.words):
            self.fail("the end of the instruction")

    def fail(self, wanted: str) -> NoReturn:
        got = self.peek()
        where = f"{got!r} (word {self.pos + 1})" if got is not None else "the end"
        raise InstructionError(f"expected {wanted}, got {where}")
