"""Draw pointed pixels on an image (numpy only, so the CLI and the node share it)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_COLOURS = ((255, 40, 40), (40, 220, 40), (40, 120, 255), (255, 200, 0), (255, 0, 255))


def draw_points(
    rgb: npt.NDArray[np.uint8],
    pixels: Sequence[tuple[float, float]],
    radius_px: int = 8,
    thickness_px: int = 2,
) -> npt.NDArray[np.uint8]:
    """A copy of ``rgb`` (HxWx3) with a ring and a centre dot at each (u, v) pixel."""
    out = np.array(rgb, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    r_out = radius_px + thickness_px
    for i, (u, v) in enumerate(pixels):
        colour = np.array(_COLOURS[i % len(_COLOURS)], dtype=np.uint8)
        cu, cv = round(u), round(v)
        u0, u1 = max(cu - r_out, 0), min(cu + r_out + 1, w)
        v0, v1 = max(cv - r_out, 0), min(cv + r_out + 1, h)
        if u0 >= u1 or v0 >= v1:
            continue
        vv, uu = np.mgrid[v0:v1, u0:u1]
        dist = np.hypot(uu - u, vv - v)
        ring = (dist >= radius_px - thickness_px) & (dist <= radius_px)
        dot = dist <= max(1.5, radius_px / 4)
        patch = out[v0:v1, u0:u1]
        patch[ring | dot] = colour
    return out
