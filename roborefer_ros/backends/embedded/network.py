"""The embedded pointing network (PyTorch): a small convolutional trunk with dense heads, and the
learned modules that relate objects and find free table space.

Trunk: the model image (RGB plus two coordinate channels) goes down to 1/16 of its size through
residual blocks, a global-context vector (average pool) is added back, and a feature pyramid
brings it up to one cell per ``STRIDE`` model pixels. Dense heads, per cell:

- ``heat``: an object's pointable pixel is here (CenterNet-style peak), plus its sub-cell
  ``offset`` and ``centroid_du`` (the visible mask's centroid column minus the peak's);
- ``kind``, ``colour``, ``size``: the attributes of the object the cell shows;
- ``cls``: other / table / object;
- ``geometry``: of the object the cell shows: camera distance and camera-frame x of its centre
  (metres), height of its bottom above the table and footprint radius (decimetres);
- ``surface``: view-frame (x, y) in metres of the table point the cell shows, or of the centre of
  the object it shows (view frame: on the table, origin below the camera, x to the image's
  right, y away from the camera);
- ``clearance``: distance from a table cell's point to the nearest object footprint (dm);
- ``embedding``: a few free features for the placement module.

Modules (small MLPs over the heads' readings, so their inputs are explicit quantities):

- ``PairModule``: for objects i, j the logits of "i left of j", "right of", "in front of",
  "behind", "on", "nearer to the camera than";
- ``BetweenModule``: the logit of "i between j and k";
- ``PlaceModule``: per cell of a coarser grid (``PLACE_POOL``), the logit that the free space
  asked for ("left of A", ..., "between A and B") is there.

Everything is trained from the simulator's truth, each head and module with its own supervision;
``program`` composes them as the instruction's parse says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional

from roborefer_ros.backends.embedded.language import COLOURS, KINDS, SIZES

PAIR_OUTPUTS = ("left_of", "right_of", "in_front_of", "behind", "on", "nearer")
PLACE_RELATION_COUNT = 5  # left, right, in front, behind, between
HEAD_CHANNELS: dict[str, int] = {
    "heat": 1,
    "offset": 2,
    "centroid_du": 1,
    "kind": len(KINDS),
    "colour": len(COLOURS),
    "size": len(SIZES),
    "cls": 3,
    "geometry": 4,  # range (m), camera x (m), bottom height (dm), footprint radius (dm)
    "surface": 2,
    "clearance": 1,  # decimetres
    "embedding": 8,
}
OBJECT_FEATURES = 8 + len(KINDS)  # see object_features
CELL_FEATURES = 2 + 2 + 1 + 1 + HEAD_CHANNELS["embedding"]  # see cell_features
PLACE_POOL = 2  # the place module scores cells of PLACE_POOL x PLACE_POOL output cells


@dataclass(frozen=True)
class NetworkConfig:
    """The architecture; stored in the weights file's metadata so a file rebuilds its network."""

    channels: tuple[int, int, int, int] = (16, 24, 48, 96)
    pyramid: int = 32
    pair_hidden: int = 64
    place_hidden: int = 64

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> NetworkConfig:
        channels = values.get("channels", cls.channels)
        if not isinstance(channels, list | tuple) or len(channels) != 4:
            raise ValueError(f"channels must list 4 integers, got {channels!r}")
        return cls(
            channels=(int(channels[0]), int(channels[1]), int(channels[2]), int(channels[3])),
            pyramid=int(str(values.get("pyramid", cls.pyramid))),
            pair_hidden=int(str(values.get("pair_hidden", cls.pair_hidden))),
            place_hidden=int(str(values.get("place_hidden", cls.place_hidden))),
        )


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.a = _conv(channels, channels)
        self.b = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        return functional.relu(x + self.b(self.a(x)))


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Trunk(nn.Module):
    """Image (B x 3 x H x W, 0..1, H and W multiples of 16) -> dense heads at 1/4 resolution."""

    mean: Tensor
    std: Tensor

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        c1, c2, c3, c4 = config.channels
        p = config.pyramid
        self.stem = nn.Sequential(_conv(5, c1, 2), _conv(c1, c2, 2), _conv(c2, c2))
        self.down8 = nn.Sequential(_conv(c2, c3, 2), _Residual(c3), _Residual(c3))
        self.down16 = nn.Sequential(_conv(c3, c4, 2), _Residual(c4), _Residual(c4))
        self.context = nn.Linear(c4, c4)
        self.lateral4 = nn.Conv2d(c2, p, 1)
        self.lateral8 = nn.Conv2d(c3, p, 1)
        self.lateral16 = nn.Conv2d(c4, p, 1)
        self.fuse = _conv(p, p)
        self.heads = nn.Conv2d(p, sum(HEAD_CHANNELS.values()), 1)
        self.register_buffer("mean", torch.tensor([0.45, 0.42, 0.38]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1))
        assert self.heads.bias is not None
        nn.init.constant_(self.heads.bias[:1], -4.0)  # heat: objects are rare cells

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        b, _, h, w = image.shape
        ys = torch.linspace(-1.0, 1.0, h, device=image.device).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1.0, 1.0, w, device=image.device).view(1, 1, 1, w).expand(b, 1, h, w)
        x = torch.cat([(image - self.mean) / self.std, xs, ys], dim=1)
        f4 = self.stem(x)
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        f16 = f16 + self.context(f16.mean(dim=(2, 3))).view(b, -1, 1, 1)
        y = self.lateral16(f16)
        y = functional.interpolate(y, size=f8.shape[2:], mode="nearest") + self.lateral8(f8)
        y = functional.interpolate(y, size=f4.shape[2:], mode="nearest") + self.lateral4(f4)
        out = self.heads(self.fuse(y))
        return dict(
            zip(HEAD_CHANNELS, torch.split(out, list(HEAD_CHANNELS.values()), dim=1), strict=True)
        )


def object_features(heads: dict[str, Tensor], rows: Tensor, cols: Tensor, batch: Tensor) -> Tensor:
    """N x OBJECT_FEATURES: what the modules know of the objects at cells (batch, rows, cols):
    centroid column and peak row (image fractions), distance, camera x, view-frame x and y,
    bottom height, footprint radius, kind probabilities."""
    gh, gw = heads["heat"].shape[2:]

    def at(name: str) -> Tensor:
        return heads[name][batch, :, rows, cols]

    offset = at("offset")
    u = (cols.float() + 0.5 + offset[:, 0]) / gw
    v = (rows.float() + 0.5 + offset[:, 1]) / gh
    uc = u + at("centroid_du")[:, 0]
    geometry = at("geometry")
    surface = at("surface")
    kind = torch.softmax(at("kind"), dim=1)
    return torch.cat(
        [
            torch.stack([uc, v], dim=1),
            geometry[:, :2],
            surface,
            geometry[:, 2:4],
            kind,
        ],
        dim=1,
    )


def cell_features(heads: dict[str, Tensor]) -> Tensor:
    """B x (ph*pw) x CELL_FEATURES over the placement grid (PLACE_POOL x PLACE_POOL output cells
    averaged, ``place_grid``): per cell its centre (image fractions), view-frame point, clearance,
    table probability and free embedding."""
    b, _, gh, gw = heads["heat"].shape
    table = torch.softmax(heads["cls"], dim=1)[:, 1:2]
    stacked = torch.cat([heads["surface"], heads["clearance"], table, heads["embedding"]], dim=1)
    pooled = functional.avg_pool2d(stacked, PLACE_POOL, ceil_mode=True)
    ph, pw = pooled.shape[2:]
    device = pooled.device
    v = ((torch.arange(ph, device=device).float() + 0.5) * PLACE_POOL / gh).view(1, 1, ph, 1)
    u = ((torch.arange(pw, device=device).float() + 0.5) * PLACE_POOL / gw).view(1, 1, 1, pw)
    coords = torch.cat([u.expand(b, 1, ph, pw), v.expand(b, 1, ph, pw)], dim=1)
    return torch.cat([coords, pooled], dim=1).flatten(2).transpose(1, 2)


def place_grid(gh: int, gw: int) -> tuple[int, int]:
    """(rows, cols) of the placement grid for an output grid of gh x gw cells."""
    return -(-gh // PLACE_POOL), -(-gw // PLACE_POOL)


class PairModule(nn.Module):
    """Pairwise relation logits from two objects' features (see PAIR_OUTPUTS)."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        n = OBJECT_FEATURES
        self.mlp = _mlp([3 * n, config.pair_hidden, config.pair_hidden, len(PAIR_OUTPUTS)])

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """a, b: ... x OBJECT_FEATURES -> ... x len(PAIR_OUTPUTS)."""
        out: Tensor = self.mlp(torch.cat([a, b, a - b], dim=-1))
        return out


def _segment_terms(p: Tensor, q: Tensor, r: Tensor) -> Tensor:
    """... x 3: where point p falls along the segment q -> r (fraction t), how far off it lies,
    and the segment's length; view-frame (x, y) points."""
    seg = r - q
    rel = p - q
    length_sq = (seg * seg).sum(-1).clamp_min(1e-6)
    t = (rel * seg).sum(-1) / length_sq
    cross = seg[..., 0] * rel[..., 1] - seg[..., 1] * rel[..., 0]
    length = length_sq.sqrt()
    return torch.stack([t, cross.abs() / length, length.expand_as(t)], dim=-1)


_XY = slice(4, 6)  # view-frame (x, y) inside object_features


class BetweenModule(nn.Module):
    """The logit of "i between j and k" from the three objects' features."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        n = OBJECT_FEATURES
        self.mlp = _mlp([3 * n + 3, config.pair_hidden, config.pair_hidden, 1])

    def forward(self, i: Tensor, j: Tensor, k: Tensor) -> Tensor:
        terms = _segment_terms(i[..., _XY], j[..., _XY], k[..., _XY])
        out: Tensor = self.mlp(torch.cat([i, j, k, terms], dim=-1))
        return out[..., 0]


class PlaceModule(nn.Module):
    """Per cell, the logit that the asked-for free space is there.

    ``cells``: B x C x CELL_FEATURES; ``first``/``second``: B x OBJECT_FEATURES (the anchors;
    ``second`` is ignored unless the relation is BETWEEN); ``relation``: B (0..4: left, right,
    in front, behind, between). Returns B x C.
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        n = OBJECT_FEATURES
        size = CELL_FEATURES + 2 * n + 2 + 2 + 3 + 2 + PLACE_RELATION_COUNT
        self.mlp = _mlp([size, config.place_hidden, config.place_hidden, 1])

    def forward(self, cells: Tensor, first: Tensor, second: Tensor, relation: Tensor) -> Tensor:
        b, c, _ = cells.shape
        between = (relation == PLACE_RELATION_COUNT - 1).float().view(b, 1, 1)
        second = second * between.view(b, 1)
        xy = cells[..., 2:4]
        d_first = xy - first[:, None, _XY]
        d_second = (xy - second[:, None, _XY]) * between
        terms = _segment_terms(xy, first[:, None, _XY], second[:, None, _XY]) * between
        eye = -first[:, None, _XY] / first[:, None, _XY].norm(dim=-1, keepdim=True).clamp_min(1e-3)
        one_hot = functional.one_hot(relation, PLACE_RELATION_COUNT).float()
        x = torch.cat(
            [
                cells,
                first[:, None].expand(b, c, -1),
                second[:, None].expand(b, c, -1),
                d_first,
                d_second,
                terms,
                eye.expand(b, c, -1),
                one_hot[:, None].expand(b, c, -1),
            ],
            dim=-1,
        )
        out: Tensor = self.mlp(x)
        return out[..., 0]


class PointingNetwork(nn.Module):
    """The trunk and the three modules, saved and loaded as one state dict."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.trunk = Trunk(config)
        self.pair = PairModule(config)
        self.between = BetweenModule(config)
        self.place = PlaceModule(config)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        heads: dict[str, Tensor] = self.trunk(image)
        return heads
