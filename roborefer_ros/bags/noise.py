"""A RealSense-like depth noise model, so recorded bags exercise the robust depth rule.

Per pixel: Gaussian noise growing with the square of the depth (stereo error), dropouts (no return,
as on dark or shiny surfaces) and outliers (flying pixels at a wrong depth). A single-pixel lookup
is hurt by all three; a robust window estimate should not be. Seeded, so a bag is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class DepthNoise:
    """``sigma = sigma_m + sigma_per_m2 * z**2``; shares of dropped and outlier pixels."""

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
