"""Two depth noise models, both seeded:

- ``D435Noise`` (``apply_depth_noise``): depth that fails like a real D435's: axial noise growing
  with z^2, no return along depth edges, random holes, and millimetre steps when the image travels
  as 16UC1 (the simulated camera, the bundled MuJoCo bags);
- ``PixelNoise``: independent per-pixel Gaussian noise, dropouts and outliers (the synthetic bags
  of the analytic scene).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.sim.errors import SimError

DepthImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class D435Noise:
    """Parameters of ``apply_depth_noise``; ``D435Noise.none()`` leaves depth unchanged."""

    sigma_at_1m_m: float = 0.001  # Gaussian sigma = sigma_at_1m_m * z^2 (stereo error ~ z^2)
    edge_jump_m: float = 0.03  # a neighbour this much farther or nearer marks a depth edge
    edge_dropout_prob: float = 0.6  # share of edge pixels (dilated by edge_width_px) lost
    edge_width_px: int = 1
    max_holes: int = 4  # 0..max_holes blobs of no return
    hole_radius_px: tuple[int, int] = (3, 12)
    quantum_m: float = 0.001  # round to this step (16UC1 millimetres); 0: no rounding
    min_range_m: float = 0.1  # nearer or farther returns are dropped, like the sensor's range
    max_range_m: float = 6.0

    def __post_init__(self) -> None:
        if self.sigma_at_1m_m < 0 or self.quantum_m < 0 or self.max_holes < 0:
            raise SimError(f"depth noise parameters must not be negative: {self}")
        if not 0.0 <= self.edge_dropout_prob <= 1.0:
            raise SimError(f"edge_dropout_prob must be in [0, 1], got {self.edge_dropout_prob}")
        lo, hi = self.hole_radius_px
        if not 1 <= lo <= hi:
            raise SimError(f"hole_radius_px must be 1 <= lo <= hi, got {self.hole_radius_px}")

    @classmethod
    def none(cls) -> D435Noise:
        return cls(0.0, np.inf, 0.0, 0, 0, (1, 1), 0.0, 0.0, np.inf)


def apply_depth_noise(
    depth_m: DepthImage, rng: np.random.Generator, noise: D435Noise | None = None
) -> DepthImage:
    """A noisy copy of ``depth_m`` (HxW float32 metres, NaN = no return), NaN where lost."""
    p = noise or D435Noise()
    if depth_m.ndim != 2:
        raise SimError(f"depth must be HxW, got shape {depth_m.shape}")
    z = depth_m.astype(np.float64)
    valid = np.isfinite(z)
    lost = _edges(z, valid, p.edge_jump_m, p.edge_width_px)
    lost &= rng.random(z.shape) < p.edge_dropout_prob
    lost |= _holes(z.shape, rng, p.max_holes, p.hole_radius_px)
    noisy = z + rng.standard_normal(z.shape) * p.sigma_at_1m_m * np.where(valid, z, 0.0) ** 2
    if p.quantum_m > 0:
        noisy = np.round(noisy / p.quantum_m) * p.quantum_m
    with np.errstate(invalid="ignore"):
        lost |= ~valid | (noisy < p.min_range_m) | (noisy > p.max_range_m)
    return np.where(lost, np.nan, noisy).astype(np.float32)


def _edges(
    z: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_], jump_m: float, width_px: int
) -> npt.NDArray[np.bool_]:
    """Pixels next to a depth discontinuity or a valid/invalid border, dilated by width_px."""
    filled = np.where(valid, z, 0.0)
    edge = np.zeros(z.shape, dtype=bool)
    for axis in (0, 1):
        diff = np.abs(np.diff(filled, axis=axis)) > jump_m
        diff |= np.diff(valid.astype(np.int8), axis=axis) != 0
        if axis == 0:
            edge[1:, :] |= diff
            edge[:-1, :] |= diff
        else:
            edge[:, 1:] |= diff
            edge[:, :-1] |= diff
    for _ in range(width_px - 1):
        grown = edge.copy()
        grown[1:, :] |= edge[:-1, :]
        grown[:-1, :] |= edge[1:, :]
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        edge = grown
    return edge


def _holes(
    shape: tuple[int, ...], rng: np.random.Generator, max_holes: int, radius_px: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    h, w = shape
    holes = np.zeros(shape, dtype=bool)
    count = int(rng.integers(0, max_holes + 1)) if max_holes else 0
    rows, cols = np.ogrid[:h, :w]
    for _ in range(count):
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        r = int(rng.integers(radius_px[0], radius_px[1] + 1))
        holes |= (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
    return holes


@dataclass(frozen=True)
class PixelNoise:
    """Independent per-pixel depth noise for the synthetic bags: Gaussian noise growing with the
    square of the depth (``sigma = sigma_m + sigma_per_m2 * z**2``), dropouts (no return, as on
    dark or shiny surfaces) and outliers (flying pixels at a wrong depth). A single-pixel lookup is
    hurt by all three; a robust window estimate should not be. Seeded per frame."""

    sigma_m: float = 0.002
    sigma_per_m2: float = 0.004
    dropout: float = 0.02
    outliers: float = 0.01
    outlier_scale: float = 0.3  # outlier depth = z * (1 +- up to this share)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sigma_m", "sigma_per_m2", "outlier_scale"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("dropout", "outliers"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")

    def apply(self, depth_m: npt.NDArray[np.float32], index: int) -> npt.NDArray[np.float32]:
        """A noisy copy of HxW float32 metres (NaN = no return) for frame number ``index``."""
        rng = np.random.default_rng([self.seed, index])
        z = depth_m.astype(np.float64)
        noisy = z + rng.standard_normal(z.shape) * (self.sigma_m + self.sigma_per_m2 * z * z)
        pick = rng.random(z.shape)
        outlier = pick < self.outliers
        spread = rng.uniform(-self.outlier_scale, self.outlier_scale, z.shape)
        noisy = np.where(outlier, z * (1.0 + spread), noisy)
        noisy = np.where(
            (pick >= self.outliers) & (pick < self.outliers + self.dropout), np.nan, noisy
        )
        return noisy.astype(np.float32)
