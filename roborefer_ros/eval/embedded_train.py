"""Training of the embedded pointing network on cached simulator samples (``embedded_data``).

Every head and module has its own supervision from the simulator's truth, all in one loss:
the heat map (focal loss on Gaussian peaks at each referable object's pointable pixel; barely
visible objects are ignored), the peak offsets, the attributes, the cell classes and the
geometry at every object and table cell, the pairwise and "between" relations among the true
objects (read out at their true cells, so the relation modules learn from the heads' own
estimates), and each placement instruction's free disc as a distribution over cells for the
place module (anchors given by the truth). Whole instructions are only used to validate: parsed,
run by ``program.Executor`` on the network's outputs, and judged on the output grid.

Deterministic for a given configuration and data (seeded torch and numpy; torch's CPU kernels
may still differ in the last bits between machines).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.nn import functional

from roborefer_ros.backends.embedded.image import STRIDE
from roborefer_ros.backends.embedded.language import InstructionError, parse_instruction
from roborefer_ros.backends.embedded.network import (
    PLACE_POOL,
    PointingNetwork,
    cell_features,
    object_features,
    place_grid,
)
from roborefer_ros.backends.embedded.program import Executor
from roborefer_ros.core.request import Mode
from roborefer_ros.eval.embedded_data import (
    FIELD,
    MAX_OBJECTS,
    QueryItem,
    read_shard,
)

Log = Callable[[str], None]
PLACE_CELLS = 256  # cells per placement in the sampled softmax (the disc's, then random ones)
TRIPLES = 384  # "between" triples per batch: every true one (up to half), then false ones


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 4000
    batch: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    seed: int = 0
    log_every: int = 50
    validate_every: int = 1000
    augment: bool = True
    bf16: bool = True  # bfloat16 autocast for the trunk while training (inference is float32)


@dataclass(frozen=True)
class Validation:
    """Accuracies on the validation frames: whole instructions (judged on the output grid) per
    mode and per step count, and the place module with true anchors."""

    locate: float
    place: float
    place_true_anchors: float
    by_steps: dict[str, float]
    n_locate: int
    n_place: int
    unparsed: int

    def line(self) -> str:
        steps = " ".join(f"{k}:{v:.2f}" for k, v in sorted(self.by_steps.items()))
        return (
            f"locate {self.locate:.3f} (n={self.n_locate}) place {self.place:.3f} "
            f"(n={self.n_place}; true anchors {self.place_true_anchors:.3f}) steps [{steps}]"
        )


class SampleSet:
    """Every sample of some shards, in memory, and their instructions."""

    def __init__(self, paths: Sequence[Path]) -> None:
        if not paths:
            raise ValueError("no shards given")
        shards = [read_shard(p) for p in paths]
        self.arrays = {
            name: np.concatenate([s.arrays[name] for s in shards]) for name in shards[0].arrays
        }
        self.queries: list[tuple[int, QueryItem]] = []
        offset = 0
        for shard in shards:
            self.queries += [(offset + n, q) for n, q in shard.queries]
            offset += len(shard.arrays["image"])
        self.size = offset

    def batch(self, index: npt.NDArray[np.int64]) -> dict[str, Tensor]:
        """Tensors of the samples at ``index`` (images as float 0..1, B x 3 x h x w)."""
        a = {k: v[index] for k, v in self.arrays.items()}
        out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in a.items() if k != "image"}
        out["image"] = torch.from_numpy(a["image"]).permute(0, 3, 1, 2).float() / 255.0
        return out


def augment(image: Tensor, generator: torch.Generator) -> Tensor:
    """Brightness, contrast and a slight white balance, plus sensor noise (no hue change: the
    colour names must stay true)."""
    b = image.shape[0]

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator)

    gain = uniform(0.75, 1.25, b, 1, 1, 1) * uniform(0.95, 1.05, b, 3, 1, 1)
    mean = image.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(0.8, 1.2, b, 1, 1, 1)
    out = (image - mean) * contrast + mean
    out = out * gain + torch.randn(image.shape, generator=generator) * uniform(
        0.0, 0.03, b, 1, 1, 1
    )
    return out.clamp(0.0, 1.0)


def true_cells(objects: Tensor, gh: int, gw: int) -> tuple[Tensor, Tensor, Tensor]:
    """(rows, cols, valid) B x MAX_OBJECTS: the cell of each object's pointable pixel, and
    whether it has one."""
    u = objects[..., FIELD["u"]]
    v = objects[..., FIELD["v"]]
    valid = (objects[..., FIELD["present"]] > 0) & (u > 0)
    cols = (u * gw).long().clamp(0, gw - 1)
    rows = (v * gh).long().clamp(0, gh - 1)
    return rows, cols, valid


def heat_targets(objects: Tensor, obj: Tensor, gh: int, gw: int) -> tuple[Tensor, Tensor]:
    """(target, weight) B x gh x gw: Gaussian peaks (exactly 1 at each referable object's cell)
    and zero weight on the cells of visible objects that may not be referred to."""
    b = objects.shape[0]
    rows, cols, valid = true_cells(objects, gh, gw)
    referable = valid & (objects[..., FIELD["referable"]] > 0)
    cells = objects[..., FIELD["visible_px"]] / 64.0  # 8 x 8 camera pixels per cell at 640x480
    sigma = (0.25 * cells.sqrt()).clamp(0.8, 3.0)
    cu = objects[..., FIELD["u"]] * gw
    cv = objects[..., FIELD["v"]] * gh
    ys = torch.arange(gh).float().view(1, 1, gh, 1) + 0.5
    xs = torch.arange(gw).float().view(1, 1, 1, gw) + 0.5
    d2 = (xs - cu[..., None, None]) ** 2 + (ys - cv[..., None, None]) ** 2
    g = torch.exp(-d2 / (2 * sigma[..., None, None] ** 2)) * referable[..., None, None]
    target = g.max(dim=1).values
    bi, oi = torch.nonzero(referable, as_tuple=True)
    target[bi, rows[bi, oi], cols[bi, oi]] = 1.0
    weight = torch.ones(b, gh, gw)
    barely = (objects[..., FIELD["present"]] > 0) & ~referable
    for bb, oo in zip(*torch.nonzero(barely, as_tuple=True), strict=True):
        weight[bb][obj[bb] == oo] = 0.0
    return target, weight


def focal_loss(logits: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = (target >= 1.0).float()
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)
    return ((pos_loss + neg_loss) * weight).sum() / pos.sum().clamp_min(1.0)


def losses(
    network: PointingNetwork,
    batch: dict[str, Tensor],
    generator: torch.Generator,
    bf16: bool = False,
) -> dict[str, Tensor]:
    """Every loss term of one batch (see the module docstring). ``bf16``: the trunk runs under
    bfloat16 autocast (about 2.5x faster on CPUs with AMX; the heads are read back in float32,
    the modules and losses run in float32)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        heads = network(batch["image"])
    heads = {k: v.float() for k, v in heads.items()}
    b, _, gh, gw = heads["heat"].shape
    objects = batch["objects"].float()
    obj = batch["obj"].long()
    out: dict[str, Tensor] = {}

    target, weight = heat_targets(objects, obj, gh, gw)
    out["heat"] = focal_loss(heads["heat"][:, 0], target, weight)

    rows, cols, valid = true_cells(objects, gh, gw)
    bi, oi = torch.nonzero(valid, as_tuple=True)
    r, c = rows[bi, oi], cols[bi, oi]
    offset = heads["offset"][bi, :, r, c]
    want = torch.stack(
        [
            objects[bi, oi, FIELD["u"]] * gw - (c.float() + 0.5),
            objects[bi, oi, FIELD["v"]] * gh - (r.float() + 0.5),
        ],
        dim=1,
    )
    du = objects[bi, oi, FIELD["centroid_u"]] - objects[bi, oi, FIELD["u"]]
    out["offset"] = functional.l1_loss(offset, want) + 10 * functional.l1_loss(
        heads["centroid_du"][bi, 0, r, c], du
    )

    # attributes and geometry on the cells of the objects an instruction may name (the
    # generator never names a barely visible one); an object of n cells weighs sqrt(n), so the
    # small ones (apples, cups, boxes: the hard ones) are not drowned by plates and cakes
    referable = objects[..., FIELD["referable"]] > 0
    on_object = (obj >= 0) & (obj < MAX_OBJECTS)
    on_object &= torch.gather(referable, 1, obj.clamp(0, MAX_OBJECTS - 1).flatten(1)).view_as(obj)
    ob, oy, ox = torch.nonzero(on_object, as_tuple=True)
    index = obj[ob, oy, ox]
    rows_of = objects[ob, index]
    cells_of = torch.zeros(b, MAX_OBJECTS).index_put_((ob, index), torch.ones(len(ob)), True)
    weight = cells_of[ob, index].rsqrt()
    weight = weight / weight.sum().clamp_min(1e-9)
    for name, field in (("kind", "kind"), ("colour", "colour"), ("size", "size")):
        per_cell = functional.cross_entropy(
            heads[name][ob, :, oy, ox], rows_of[:, FIELD[field]].long(), reduction="none"
        )
        out[name] = (per_cell * weight).sum()
    out["cls"] = functional.cross_entropy(heads["cls"], batch["cls"].long())
    geometry_target = torch.stack(
        [
            rows_of[:, FIELD["range_m"]],
            rows_of[:, FIELD["x_optical_m"]],
            10 * rows_of[:, FIELD["bottom_m"]],
            10 * rows_of[:, FIELD["radius_m"]],
        ],
        dim=1,
    )
    per_cell = functional.smooth_l1_loss(
        heads["geometry"][ob, :, oy, ox], geometry_target, beta=0.05, reduction="none"
    ).sum(1)
    out["geometry"] = (per_cell * weight).sum()
    surface = batch["surface"].float().permute(0, 3, 1, 2)
    known = torch.isfinite(surface)
    out["surface"] = 4 * functional.smooth_l1_loss(
        heads["surface"][known], surface[known], beta=0.05
    )
    clearance = 10 * batch["clearance"].float().clamp(-0.05, 0.3)
    known_c = torch.isfinite(clearance)
    out["clearance"] = functional.smooth_l1_loss(
        heads["clearance"][:, 0][known_c], clearance[known_c], beta=0.1
    )

    # relations among the true objects, read out at their true cells
    batch_index = torch.arange(b).view(b, 1).expand(b, MAX_OBJECTS)
    features = object_features(heads, rows.flatten(), cols.flatten(), batch_index.flatten())
    features = features.view(b, MAX_OBJECTS, -1)
    n = MAX_OBJECTS
    pair_logits = network.pair(
        features[:, :, None].expand(b, n, n, -1), features[:, None].expand(b, n, n, -1)
    )
    pair_labels = batch["relations"].long().permute(0, 2, 3, 1)
    pair_ok = (pair_labels >= 0) & valid[:, :, None, None] & valid[:, None, :, None]
    out["pair"] = functional.binary_cross_entropy_with_logits(
        pair_logits[pair_ok], pair_labels[pair_ok].float()
    )
    between_labels = batch["between"].long()
    between_ok = (
        (between_labels >= 0)
        & valid[:, :, None, None]
        & valid[:, None, :, None]
        & valid[:, None, None, :]
    )
    tb, ti, tj, tk = _sample_triples(between_labels, between_ok, generator)
    if len(tb):
        between_logits = network.between(features[tb, ti], features[tb, tj], features[tb, tk])
        out["between"] = functional.binary_cross_entropy_with_logits(
            between_logits, between_labels[tb, ti, tj, tk].float()
        )
    else:
        out["between"] = features.sum() * 0.0

    # placements with their true anchors
    places = batch["places"].float()
    relation = places[..., 0].long()
    first = places[..., 1].long().clamp_min(0)
    second = places[..., 2].long()
    has_second = second >= 0
    second = torch.where(has_second, second, first)
    qb, qi = torch.nonzero(relation >= 0, as_tuple=True)
    q_first, q_second = first[qb, qi], second[qb, qi]
    usable = valid[qb, q_first] & valid[qb, q_second]
    qb, qi, q_first, q_second = qb[usable], qi[usable], q_first[usable], q_second[usable]
    if len(qb):
        masks = pooled_masks(batch["place_masks"][qb, qi]).flatten(1)
        cell = STRIDE * PLACE_POOL
        tu, tv = places[qb, qi, 3] / cell, places[qb, qi, 4] / cell
        ph, pw = place_grid(gh, gw)
        ys = (torch.arange(ph).float() + 0.5).view(1, ph, 1)
        xs = (torch.arange(pw).float() + 0.5).view(1, 1, pw)
        near = torch.exp(
            -((xs - tu.view(-1, 1, 1)) ** 2 + (ys - tv.view(-1, 1, 1)) ** 2) / (2 * 0.75**2)
        ).flatten(1)
        wanted = masks * near + 1e-6 * masks
        wanted = wanted / wanted.sum(dim=1, keepdim=True).clamp_min(1e-9)
        # a sampled softmax: every cell of the answer's disc and PLACE_NEGATIVES others
        order = torch.argsort(
            (masks > 0).float() + torch.rand(masks.shape, generator=generator),
            dim=1,
            descending=True,
        )
        keep = order[:, : min(PLACE_CELLS, order.shape[1])]
        cells = cell_features(heads)[qb[:, None], keep]
        logits = network.place(
            cells, features[qb, q_first], features[qb, q_second], relation[qb, qi]
        )
        target = torch.gather(wanted, 1, keep)
        out["place"] = -(target * torch.log_softmax(logits, dim=1)).sum(1).mean()
    else:
        out["place"] = heads["heat"].sum() * 0.0
    return out


def _sample_triples(
    labels: Tensor, ok: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Indices (b, i, j, k) of up to TRIPLES labelled triples, the true ones first."""
    positive = torch.nonzero(ok & (labels == 1))
    negative = torch.nonzero(ok & (labels == 0))
    positive = positive[torch.randperm(len(positive), generator=generator)[: TRIPLES // 2]]
    wanted = TRIPLES - len(positive)
    negative = negative[torch.randperm(len(negative), generator=generator)[:wanted]]
    picked = torch.cat([positive, negative])
    return picked[:, 0], picked[:, 1], picked[:, 2], picked[:, 3]


def pooled_masks(masks: Tensor) -> Tensor:
    """N x gh x gw bool -> N x ph x pw float: the share of each placement cell in the disc."""
    return functional.avg_pool2d(masks[:, None].float(), PLACE_POOL, ceil_mode=True)[:, 0]


def learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(
    network: PointingNetwork,
    data: SampleSet,
    config: TrainConfig,
    log: Log = print,
    validation: SampleSet | None = None,
    checkpoint: Callable[[int], None] | None = None,
) -> None:
    """Train ``network`` in place for ``config.steps`` steps, logging progress.

    ``checkpoint(step)`` runs after each validation, so a stopped run still leaves weights.
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    decay = [p for n, p in network.named_parameters() if p.ndim > 1]
    other = [p for n, p in network.named_parameters() if p.ndim <= 1]
    optimiser = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": other, "weight_decay": 0},
        ],
        lr=config.learning_rate,
    )
    started = time.monotonic()
    running: dict[str, float] = {}
    for step in range(config.steps):
        network.train()
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, step)
        index = rng.integers(0, data.size, size=config.batch)
        batch = data.batch(index)
        if config.augment:
            batch["image"] = augment(batch["image"], generator)
        terms = losses(network, batch, generator, config.bf16)
        total = sum(terms.values(), torch.zeros(()))
        optimiser.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
        optimiser.step()
        for k, v in terms.items():
            running[k] = running.get(k, 0.0) + float(v.detach())
        running["total"] = running.get("total", 0.0) + float(total.detach())
        if (step + 1) % config.log_every == 0:
            elapsed = time.monotonic() - started
            means = " ".join(
                f"{k} {v / config.log_every:.3f}" for k, v in running.items() if k != "total"
            )
            log(
                f"step {step + 1}/{config.steps} loss {running['total'] / config.log_every:.3f} "
                f"({means}) {elapsed:.0f} s"
            )
            running = {}
        if validation is not None and (
            (step + 1) % config.validate_every == 0 or step + 1 == config.steps
        ):
            log(f"validation at step {step + 1}: {validate(network, validation).line()}")
            if checkpoint is not None and step + 1 < config.steps:
                checkpoint(step + 1)


@torch.inference_mode()
def validate(network: PointingNetwork, data: SampleSet, batch: int = 16) -> Validation:
    """Whole instructions on the validation samples, judged on the output grid."""
    network.eval()
    by_sample: dict[int, list[QueryItem]] = {}
    for sample, query in data.queries:
        by_sample.setdefault(sample, []).append(query)
    hits: dict[str, list[bool]] = {"locate": [], "place": [], "anchors": []}
    steps: dict[str, list[bool]] = {}
    unparsed = 0
    for start in range(0, data.size, batch):
        index = np.arange(start, min(start + batch, data.size))
        tensors = data.batch(index)
        heads = network(tensors["image"])
        gh, gw = heads["heat"].shape[2:]
        for k, sample in enumerate(index.tolist()):
            executor = Executor(network, heads, k)
            for query in by_sample.get(sample, []):
                try:
                    program = parse_instruction(query.prompt)
                except InstructionError:
                    unparsed += 1
                    continue
                pointed = executor.run(program)
                row = min(int(pointed.v / STRIDE), gh - 1)
                col = min(int(pointed.u / STRIDE), gw - 1)
                if query.mode is Mode.LOCATE:
                    hit = int(tensors["obj"][k, row, col]) == query.target
                    hits["locate"].append(hit)
                else:
                    if query.target < 0:
                        continue
                    hit = bool(tensors["place_masks"][k, query.target, row, col])
                    hits["place"].append(hit)
                    hits["anchors"].append(_place_with_true_anchors(executor, tensors, k, query))
                key = f"{query.mode.name[0]}{query.steps}"
                steps.setdefault(key, []).append(hit)
    return Validation(
        locate=_mean(hits["locate"]),
        place=_mean(hits["place"]),
        place_true_anchors=_mean(hits["anchors"]),
        by_steps={k: _mean(v) for k, v in steps.items()},
        n_locate=len(hits["locate"]),
        n_place=len(hits["place"]),
        unparsed=unparsed,
    )


def _place_with_true_anchors(
    executor: Executor, tensors: dict[str, Tensor], k: int, query: QueryItem
) -> bool:
    """The place module alone: anchors read out at their true cells."""
    heads = executor.heads
    gh, gw = heads["heat"].shape[2:]
    objects = tensors["objects"][k : k + 1].float()
    rows, cols, _ = true_cells(objects, gh, gw)
    place = tensors["places"][k, query.target]
    first, second = int(place[1]), int(place[2])
    second = first if second < 0 else second
    batch_index = torch.full((2,), k)
    picked = torch.tensor([first, second])
    features = object_features(heads, rows[0, picked], cols[0, picked], batch_index)
    cells = cell_features({n: t[k : k + 1] for n, t in heads.items()})
    logits = executor.network.place(
        cells, features[0:1], features[1:2], torch.tensor([int(place[0])])
    )[0]
    _, pw = place_grid(gh, gw)
    row, col = divmod(int(logits.argmax()), pw)
    fine_row = min(row * PLACE_POOL + PLACE_POOL // 2, gh - 1)
    fine_col = min(col * PLACE_POOL + PLACE_POOL // 2, gw - 1)
    return bool(tensors["place_masks"][k, query.target, fine_row, fine_col])


def _mean(values: list[bool]) -> float:
    return float(np.mean(values)) if values else float("nan")
