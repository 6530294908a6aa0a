"""Exact answers a rendered frame allows: object masks and poses, 3D points, free table space.

Everything here reads the clean render (labels, metric depth, camera pose), never a noisy copy, so
it is the ground truth a bag or a benchmark is scored against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.transforms import Transform
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.render import SEG_TABLE, RenderedFrame
from roborefer_ros.sim.spec import SceneSpec

FloatArray = npt.NDArray[np.float64]
BoolImage = npt.NDArray[np.bool_]

_VISIBLE_TOLERANCE_M = 0.01  # a table point is seen when the depth ray ends this close to it


@dataclass(frozen=True)
class ObjectTruth:
    """One object as this frame shows it.

    ``mask``: HxW bool of its visible pixels. ``centroid_uv``: mean (u, v) of the mask, None when
    it is not visible. ``centre_optical``: its centre in the optical frame; ``range_m``: its
    distance from the camera centre.
    """

    index: int
    mask: BoolImage
    visible_px: int
    pose: Transform  # T_base_from_object
    centroid_uv: tuple[float, float] | None
    centre_optical: tuple[float, float, float]
    range_m: float


@dataclass(frozen=True)
class FreeSpot:
    """A visible table point at least ``clearance_m`` from every object footprint."""

    point_base: tuple[float, float, float]
    pixel: tuple[float, float]  # (u, v)
    clearance_m: float


def object_truths(spec: SceneSpec, frame: RenderedFrame) -> tuple[ObjectTruth, ...]:
    """Mask, visible pixel count and pose of every object of ``spec`` in ``frame``."""
    T_optical_from_base = frame.T_base_from_optical.inverse()
    truths = []
    for obj in spec.objects:
        mask = np.asarray(frame.labels == obj.index)
        count = int(mask.sum())
        centroid = None
        if count:
            rows, cols = np.nonzero(mask)
            centroid = (float(cols.mean()), float(rows.mean()))
        c = T_optical_from_base.apply(np.asarray(obj.position_m))
        truths.append(
            ObjectTruth(
                index=obj.index,
                mask=mask,
                visible_px=count,
                pose=obj.pose,
                centroid_uv=centroid,
                centre_optical=(float(c[0]), float(c[1]), float(c[2])),
                range_m=float(np.linalg.norm(c)),
            )
        )
    return tuple(truths)


def points_base(frame: RenderedFrame) -> FloatArray:
    """HxWx3 float64: the base_link point each pixel sees (from the clean depth), NaN if none."""
    cam = frame.camera
    h, w = frame.depth_m.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    z = frame.depth_m.astype(np.float64)
    optical = np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], axis=-1)
    base = frame.T_base_from_optical.apply(optical.reshape(-1, 3)).reshape(h, w, 3)
    return base


def point_at_pixel(frame: RenderedFrame, u: float, v: float) -> FloatArray:
    """The base_link point (3,) seen at the rounded pixel (u = column, v = row); SimError if the
    pixel is outside the image or has no depth."""
    col, row = round(u), round(v)
    h, w = frame.depth_m.shape
    if not (0 <= col < w and 0 <= row < h):
        raise SimError(f"pixel ({u}, {v}) is outside the {w}x{h} image")
    z = float(frame.depth_m[row, col])
    if not math.isfinite(z):
        raise SimError(f"pixel ({u}, {v}) has no depth")
    cam = frame.camera
    optical = np.array([(col - cam.cx) / cam.fx * z, (row - cam.cy) / cam.fy * z, z])
    return frame.T_base_from_optical.apply(optical)


def project_to_pixel(frame: RenderedFrame, point_base: npt.ArrayLike) -> tuple[float, float]:
    """(u, v) of a base_link point; SimError when it is behind the camera."""
    p = frame.T_base_from_optical.inverse().apply(np.asarray(point_base, dtype=np.float64))
    if p[2] <= 1e-6:
        raise SimError(f"point {np.asarray(point_base).tolist()} is behind the camera")
    return frame.camera.project(p)


def interior_pixel(mask: BoolImage, border_px: int = 3) -> tuple[int, int] | None:
    """The mask pixel (u, v) nearest the mask centroid that lies at least ``border_px`` inside the
    mask (4-neighbour erosion); the border is relaxed down to 1 px; None for an empty mask."""
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask)
    cu, cv = float(cols.mean()), float(rows.mean())
    for border in range(border_px, 0, -1):
        inner = _erode(mask, border)
        if inner.any():
            rows, cols = np.nonzero(inner)
            best = int(np.argmin((cols - cu) ** 2 + (rows - cv) ** 2))
            return int(cols[best]), int(rows[best])
    return None


def clearance_m(spec: SceneSpec, x: float, y: float) -> float:
    """Distance from (x, y) on the table to the nearest object footprint (negative inside one)."""
    gaps = [
        math.hypot(x - o.position_m[0], y - o.position_m[1]) - o.footprint_radius_m
        for o in spec.objects
    ]
    return min(gaps, default=math.inf)


def table_point_visible(
    frame: RenderedFrame, point_base: npt.ArrayLike, margin_px: int = 8, clear_px: int = 3
) -> bool:
    """Whether the camera sees this table point itself (in the image, on a table pixel, and the
    depth ray ends at it), not something standing in front of it, and clearly: every pixel
    within ``clear_px`` is table too. A spot on an object's silhouette is ambiguous for any
    answer format (RoboRefer's 3 decimals move a 640 px image's pixel by up to 0.3 px)."""
    p = np.asarray(point_base, dtype=np.float64)
    try:
        u, v = project_to_pixel(frame, p)
    except SimError:
        return False
    h, w = frame.labels.shape
    col, row = round(u), round(v)
    if not (margin_px <= col < w - margin_px and margin_px <= row < h - margin_px):
        return False
    patch = frame.labels[row - clear_px : row + clear_px + 1, col - clear_px : col + clear_px + 1]
    if not bool(np.all(patch == SEG_TABLE)):
        return False
    seen = point_at_pixel(frame, col, row)
    return float(np.linalg.norm(seen - p)) < _VISIBLE_TOLERANCE_M


def is_free_spot(spec: SceneSpec, frame: RenderedFrame, x: float, y: float, clear_m: float) -> bool:
    """On the table (``clear_m`` from its edges), ``clear_m`` from every footprint, and seen."""
    if not spec.table.contains_xy(x, y, margin_m=clear_m):
        return False
    if clearance_m(spec, x, y) < clear_m:
        return False
    return table_point_visible(frame, (x, y, 0.0))


def free_spots(
    spec: SceneSpec,
    frame: RenderedFrame,
    rng: np.random.Generator,
    n: int,
    clear_m: float = 0.06,
    max_tries: int = 2000,
) -> list[FreeSpot]:
    """Up to ``n`` random free, visible table points inside the placement region."""
    (x0, x1), (y0, y1) = spec.table.place_x_range_m, spec.table.place_y_range_m
    spots: list[FreeSpot] = []
    for _ in range(max_tries):
        if len(spots) >= n:
            break
        x, y = float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
        if is_free_spot(spec, frame, x, y, clear_m):
            spots.append(FreeSpot((x, y, 0.0), project_to_pixel(frame, (x, y, 0.0)), clear_m))
    return spots


def table_disc_mask(
    frame: RenderedFrame,
    centre_base: npt.ArrayLike,
    radius_m: float,
    points: FloatArray | None = None,
) -> BoolImage:
    """HxW bool: the visible table pixels within ``radius_m`` of a table point (a placement
    region as the image shows it). ``points``: ``points_base(frame)`` if already computed."""
    c = np.asarray(centre_base, dtype=np.float64)
    pts = points_base(frame) if points is None else points
    with np.errstate(invalid="ignore"):
        near = np.linalg.norm(pts[..., :2] - c[:2], axis=-1) <= radius_m
    return np.asarray(near & (frame.labels == SEG_TABLE))


def _erode(mask: BoolImage, steps: int) -> BoolImage:
    out = mask.copy()
    for _ in range(steps):
        inner = out.copy()
        inner[1:, :] &= out[:-1, :]
        inner[:-1, :] &= out[1:, :]
        inner[:, 1:] &= out[:, :-1]
        inner[:, :-1] &= out[:, 1:]
        inner[0, :] = inner[-1, :] = False
        inner[:, 0] = inner[:, -1] = False
        out = inner
    return out
