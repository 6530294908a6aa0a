"""Run a parsed instruction on the network's outputs for one image: detect objects, then compose
the learned modules the way the parse says, with soft scores (probabilities), and answer a pixel.

Objects are the peaks of the ``heat`` head (up to ``MAX_SLOTS``), each read out at its cell.
A noun phrase scores each object by existence x P(kind) x P(colour) x P(size) (the named ones);
a clause multiplies that by how well the object satisfies it, given the anchors' scores
normalised into a distribution:

- relation to an anchor: sum over anchors j != i of p(j) * P(i rel j) (PairModule);
- between two anchors: sum over j, k of p(j) q(k) P(i between j and k) (BetweenModule);
- the n-th from the left: a soft count of the candidates left of i (PairModule's "left of"),
  which should be n - 1;
- closest to the camera: no other candidate is nearer (PairModule's "nearer").

The answer to an object instruction is the best-scoring object's pixel; to a placement, the cell
where the PlaceModule scores the free space beside (or between) the best-scoring anchor(s)
highest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional

from roborefer_ros.backends.embedded.image import STRIDE
from roborefer_ros.backends.embedded.language import (
    COLOURS,
    KINDS,
    SIZES,
    UNARY_RELATIONS,
    Noun,
    ObjectRef,
    Ordinal,
    PlaceRef,
    Program,
    Related,
    Relation,
    Superlative,
)
from roborefer_ros.backends.embedded.network import (
    PAIR_OUTPUTS,
    PLACE_POOL,
    PointingNetwork,
    cell_features,
    object_features,
    place_grid,
)

MAX_SLOTS = 16
_PAIR_INDEX = {
    Relation.LEFT_OF: PAIR_OUTPUTS.index("left_of"),
    Relation.RIGHT_OF: PAIR_OUTPUTS.index("right_of"),
    Relation.IN_FRONT_OF: PAIR_OUTPUTS.index("in_front_of"),
    Relation.BEHIND: PAIR_OUTPUTS.index("behind"),
    Relation.ON: PAIR_OUTPUTS.index("on"),
}
_NEARER = PAIR_OUTPUTS.index("nearer")
_ORDINAL_SIGMA = 0.35


@dataclass(frozen=True)
class Slots:
    """The detected objects of one image (K of them).

    ``exist``: K probabilities; ``kind``/``colour``/``size``: K x n probabilities;
    ``features``: K x OBJECT_FEATURES; ``pixel``: K x 2 (u, v) model-image pixels.
    """

    exist: Tensor
    kind: Tensor
    colour: Tensor
    size: Tensor
    features: Tensor
    pixel: Tensor
    rows: Tensor
    cols: Tensor


@dataclass(frozen=True)
class Pointed:
    """Where the program points: a model-image pixel (u, v) and the score behind it."""

    u: float
    v: float
    score: float


def detect(heads: dict[str, Tensor], index: int = 0, max_slots: int = MAX_SLOTS) -> Slots:
    """The peaks of image ``index``'s heat map (3 x 3 local maxima), best first."""
    heat = torch.sigmoid(heads["heat"][index : index + 1])
    peaks = heat * (functional.max_pool2d(heat, 3, 1, 1) == heat).float()
    gh, gw = heat.shape[2:]
    k = min(max_slots, gh * gw)
    exist, flat = peaks.flatten().topk(k)
    rows, cols = flat // gw, flat % gw
    batch = torch.full_like(rows, index)
    features = object_features(heads, rows, cols, batch)
    offset = heads["offset"][index, :, rows, cols]
    pixel = torch.stack(
        [(cols.float() + 0.5 + offset[0]) * STRIDE, (rows.float() + 0.5 + offset[1]) * STRIDE],
        dim=1,
    )
    return Slots(
        exist=exist,
        kind=torch.softmax(heads["kind"][index, :, rows, cols].T, dim=1),
        colour=torch.softmax(heads["colour"][index, :, rows, cols].T, dim=1),
        size=torch.softmax(heads["size"][index, :, rows, cols].T, dim=1),
        features=features,
        pixel=pixel,
        rows=rows,
        cols=cols,
    )


class Executor:
    """Scores objects and cells for one image's slots; relation tables are computed once."""

    def __init__(self, network: PointingNetwork, heads: dict[str, Tensor], index: int = 0) -> None:
        self.network = network
        self.heads = heads
        self.index = index
        self.slots = detect(heads, index)
        f = self.slots.features
        k = f.shape[0]
        self.pairs = torch.sigmoid(
            network.pair(f[:, None].expand(k, k, -1), f[None].expand(k, k, -1))
        )
        self.not_self = 1.0 - torch.eye(k)
        self._between: Tensor | None = None

    def run(self, program: Program) -> Pointed:
        if isinstance(program, PlaceRef):
            return self.place(program)
        scores = self.scores(program)
        best = int(scores.argmax())
        u, v = (float(c) for c in self.slots.pixel[best])
        return Pointed(u, v, float(scores[best]))

    # ---- objects ----

    def noun(self, noun: Noun) -> Tensor:
        s = self.slots
        score = s.exist * s.kind[:, KINDS.index(noun.kind)]
        if noun.colour is not None:
            score = score * s.colour[:, COLOURS.index(noun.colour)]
        if noun.size is not None:
            score = score * s.size[:, SIZES.index(noun.size)]
        return score

    def scores(self, ref: ObjectRef) -> Tensor:
        """K scores in [0, 1]: how well each slot fits the description."""
        candidates = self.noun(ref.noun)
        clause = ref.clause
        if clause is None:
            return candidates
        if isinstance(clause, Ordinal):
            index = _PAIR_INDEX[Relation.LEFT_OF if clause.from_left else Relation.RIGHT_OF]
            # count_i = sum_j c_j P(j left of i)
            count = ((candidates[:, None] * self.pairs[:, :, index]) * self.not_self).sum(0)
            fit = torch.exp(-((count - (clause.rank - 1)) ** 2) / (2 * _ORDINAL_SIGMA**2))
            return candidates * fit
        if isinstance(clause, Superlative):
            nearer = self.pairs[:, :, _NEARER]  # [i, j] = P(i nearer than j)
            beaten = nearer if clause.nearest else nearer.T  # [j, i]: j beats i
            others = candidates[:, None] * beaten * self.not_self
            return candidates * torch.prod(1.0 - others, dim=0)
        return candidates * self.related(clause)

    def related(self, clause: Related) -> Tensor:
        anchors = [_distribution(self.scores(a)) for a in clause.anchors]
        if clause.relation is Relation.BETWEEN:
            first, second = anchors
            table = self.between_table() * self.not_self[:, :, None] * self.not_self[:, None, :]
            return torch.einsum("ijk,j,k->i", table, first, second).clamp(0.0, 1.0)
        (anchor,) = anchors
        fit = self.pairs[:, :, _PAIR_INDEX[clause.relation]] * self.not_self
        return (fit @ anchor).clamp(0.0, 1.0)

    def between_table(self) -> Tensor:
        if self._between is None:
            f = self.slots.features
            k = f.shape[0]
            self._between = torch.sigmoid(
                self.network.between(
                    f[:, None, None].expand(k, k, k, -1),
                    f[None, :, None].expand(k, k, k, -1),
                    f[None, None, :].expand(k, k, k, -1),
                )
            )
        return self._between

    # ---- placements ----

    def place(self, ref: PlaceRef) -> Pointed:
        first_scores = self.scores(ref.anchors[0])
        first = int(first_scores.argmax())
        second = first
        if ref.relation is Relation.BETWEEN:
            second_scores = self.scores(ref.anchors[1]).clone()
            second_scores[first] = -1.0
            second = int(second_scores.argmax())
        logits = self.place_logits(first, second, ref.relation)
        ph, pw = place_grid(*self.heads["heat"].shape[2:])
        best = int(logits.argmax())
        row, col = divmod(best, pw)
        prob = torch.softmax(logits, dim=0).view(ph, pw)
        u, v = _refine(prob, row, col)
        cell = STRIDE * PLACE_POOL
        return Pointed(u * cell, v * cell, float(prob[row, col]))

    def place_logits(self, first: int, second: int, relation: Relation) -> Tensor:
        """Logits over the placement grid (``place_grid``, flattened) of the free space
        ``relation`` slot ``first`` (and ``second``)."""
        cells = cell_features({k: v[self.index : self.index + 1] for k, v in self.heads.items()})
        f = self.slots.features
        code = PLACE_RELATION_CODES[relation]
        logits: Tensor = self.network.place(
            cells, f[first : first + 1], f[second : second + 1], torch.tensor([code])
        )
        return logits[0]


PLACE_RELATION_CODES: dict[Relation, int] = {
    **{r: i for i, r in enumerate(UNARY_RELATIONS)},
    Relation.BETWEEN: len(UNARY_RELATIONS),
}


def _distribution(scores: Tensor) -> Tensor:
    return scores / scores.sum().clamp_min(1e-6)


def _refine(prob: Tensor, row: int, col: int) -> tuple[float, float]:
    """Cell coordinates (column, row, in cells, centre = +0.5) of the probability-weighted mean
    of the 3 x 3 cells around the best one."""
    gh, gw = prob.shape
    r0, r1 = max(row - 1, 0), min(row + 2, gh)
    c0, c1 = max(col - 1, 0), min(col + 2, gw)
    window = prob[r0:r1, c0:c1]
    total = window.sum().clamp_min(1e-12)
    rows = torch.arange(r0, r1).float().view(-1, 1) + 0.5
    cols = torch.arange(c0, c1).float().view(1, -1) + 0.5
    return float((window * cols).sum() / total), float((window * rows).sum() / total)
