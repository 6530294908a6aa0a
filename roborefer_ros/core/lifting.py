"""Pointed pixel -> 3D point and approach axis in the camera's optical frame.

Orientation convention (the pose's z axis, ``LiftedPoint.approach_camera``):

- LOCATE: the unit viewing ray from the optical centre through the point, i.e. the direction a
  gripper approaching along the line of sight moves in.
- PLACE: the support plane's unit normal, pointing to the camera's side of the plane (up for a
  table seen from above), i.e. the direction an object is lowered against.

Depth is measured along the optical axis (as depth_image_proc), so the point at depth Z on the unit
ray r is ``r * Z / r_z``. PLACE never reads the centre pixel's own depth: it intersects the pixel's
ray with the plane fitted around it, so a hole under the pointed pixel (free space on a shiny or
dark surface) does not matter, and a pixel with no surface around it is refused rather than guessed.

Pixels here are rectified pixels (u = column, v = row) of the full-resolution image.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.depth import DepthSample, checked_traits, pixel_index, sample_depth
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status

FloatArray = npt.NDArray[np.float64]

_MAX_PLANE_SIDE = 20  # subsample the plane window to at most ~20x20 = 400 points
_MIN_PLANE_POINTS = 12
_RANSAC_ITERATIONS = 128
_RANSAC_SEED = 0  # fixed: the same frame always gives the same plane
_REL_THRESHOLD = 0.01  # inlier distance grows with depth (1 % of the median depth)
_MIN_INCIDENCE_COS = math.cos(math.radians(85.0))  # ray closer than 5 deg to the plane: refuse
# A plane hypothesis seen within 15 deg of grazing may not compete (when others pass the anchor):
# such a plane nearly contains the viewing rays and collects points of several surfaces along a
# depth edge. Measured on the G1's head camera: a free spot behind a box fitted 40 deg off the
# table with 81 % "inliers" (table and box front); the table itself is seen at ~48 deg there.
_MIN_HYPOTHESIS_INCIDENCE_COS = math.cos(math.radians(75.0))
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class LiftedPoint:
    """One pixel lifted to 3D in the camera's optical frame (metres)."""

    pixel: tuple[float, float]  # (u, v) in the original (full-resolution) image
    sample: DepthSample  # LOCATE: the robust depth; PLACE: the plane window's evidence
    point_camera: FloatArray  # (3,) float64
    normal_camera: FloatArray | None  # (3,) unit float64, towards the camera; PLACE only
    approach_camera: FloatArray  # (3,) unit float64, pose z axis (module docstring)
    plane_inlier_ratio: float | None  # centre-weighted inlier share of the plane; PLACE only


def model_to_image_pixel(
    x_norm: float, y_norm: float, width: int, height: int
) -> tuple[float, float]:
    """Image pixel (u, v) of a normalised answer: ``u = x_norm * width``, ``v = y_norm * height``.

    The model saw the whole frame resized, and its normalised answer is relative to that image, so
    normalising cancels the resize: the same fraction of the full-resolution width is the same
    place. A far-edge answer of exactly 1.0 (which the parser's clamp produces) is kept on the last
    pixel instead of one past it.
    """
    return min(x_norm * width, width - 1.0), min(y_norm * height, height - 1.0)


def image_pixel_from_model_pixel(
    px: float, py: float, model_size: tuple[int, int], image_size: tuple[int, int]
) -> tuple[float, float]:
    """Image pixel (u, v) of an absolute-pixel answer on a resized input.

    ``model_size`` and ``image_size`` are (width, height). Scales like ``CameraModel.scaled``
    (pixel 0 stays 0; the half-pixel centre offset, under half a model pixel, is ignored).
    """
    model_w, model_h = model_size
    image_w, image_h = image_size
    if model_w <= 0 or model_h <= 0:
        raise ValueError(f"model_size must be positive, got {model_size}")
    return px * image_w / model_w, py * image_h / model_h


def lift_pixel(
    camera: CameraModel,
    depth_raw: npt.NDArray[np.generic],
    encoding: str,
    u: float,
    v: float,
    mode: Mode,
    *,
    window_px: int = 7,
    plane_radius_px: int = 25,
    min_valid_ratio: float = 0.2,
    min_range_m: float = 0.05,
    max_range_m: float = 10.0,
    min_plane_inlier_ratio: float = 0.5,
    plane_inlier_threshold_m: float = 0.01,
) -> LiftedPoint:
    """Lift rectified pixel (u=column, v=row) of an HxW raw depth image aligned with ``camera``.

    AUTO is lifted as LOCATE (the caller resolves AUTO from the instruction). PLACE fits the support
    plane in a (2 * plane_radius_px + 1)^2 window; a point is a plane inlier within
    ``max(plane_inlier_threshold_m, 1 % of depth)``. Raises OUT_OF_IMAGE, NO_VALID_DEPTH,
    UNSUPPORTED_ENCODING or BAD_FRAME (depth not the camera's size).
    """
    if depth_raw.shape[:2] != (camera.height, camera.width):
        raise RefPointError(
            Status.BAD_FRAME,
            f"depth is {depth_raw.shape[1]}x{depth_raw.shape[0]} but camera_info is "
            f"{camera.width}x{camera.height}",
        )
    ray = camera.pixel_to_ray(u, v)
    surface = functools.partial(
        _visible_surface,
        depth_raw,
        encoding,
        u,
        v,
        ray,
        window_px,
        min_valid_ratio,
        min_range_m,
        max_range_m,
    )
    if mode is not Mode.PLACE:
        sample, point = surface()
        return LiftedPoint((u, v), sample, point, None, ray, None)

    points, weights, n_window, pixel = _plane_window(
        camera, depth_raw, encoding, u, v, plane_radius_px, min_range_m, max_range_m
    )
    where = f"around pixel (u={pixel[0]}, v={pixel[1]})"
    ratio = points.shape[0] / n_window
    if points.shape[0] < _MIN_PLANE_POINTS or ratio < min_valid_ratio:
        raise RefPointError(
            Status.NO_VALID_DEPTH,
            f"no support surface {where}: {points.shape[0]} of {n_window} sampled pixels have "
            f"depth (need {_MIN_PLANE_POINTS} and min_valid_ratio={min_valid_ratio:g})",
        )
    threshold = max(plane_inlier_threshold_m, _REL_THRESHOLD * float(np.median(points[:, 2])))
    try:  # the plane must pass through the surface seen at the pixel, unless it is a hole
        anchor: FloatArray | None = surface()[1]
    except RefPointError:
        anchor = None
    normal, offset, inliers = _fit_plane(points, weights, threshold, anchor, ray)
    inlier_ratio = float(weights[inliers].sum() / weights.sum())
    if inlier_ratio < min_plane_inlier_ratio:
        raise RefPointError(
            Status.NO_VALID_DEPTH,
            f"no support plane {where}: best plane explains {inlier_ratio:.0%} of the depth "
            f"(min_plane_inlier_ratio={min_plane_inlier_ratio:g})",
        )
    cos_incidence = float(normal @ ray)
    if abs(cos_incidence) < _MIN_INCIDENCE_COS:
        raise RefPointError(
            Status.NO_VALID_DEPTH,
            f"the ray through pixel ({u:.1f}, {v:.1f}) grazes the support plane "
            f"({math.degrees(math.asin(min(abs(cos_incidence), 1.0))):.1f} deg)",
        )
    point = ray * (-offset / cos_incidence)
    if not min_range_m <= point[2] <= max_range_m:
        raise RefPointError(
            Status.NO_VALID_DEPTH,
            f"the support plane {where} meets the ray at depth {point[2]:.3f} m, outside "
            f"[{min_range_m:g}, {max_range_m:g}] m",
        )
    if normal @ point > 0.0:  # orient towards the camera: dot(normal, -point) > 0
        normal = -normal
    normal = normal + 0.0  # no negative zeros in published poses
    residuals = points[inliers] @ normal - float(normal @ point)
    spread = _MAD_TO_SIGMA * float(np.median(np.abs(residuals - np.median(residuals))))
    sample = DepthSample(float(point[2]), ratio, spread, points.shape[0], n_window, pixel)
    return LiftedPoint((u, v), sample, point, normal, normal.copy(), inlier_ratio)


def _visible_surface(
    depth_raw: npt.NDArray[np.generic],
    encoding: str,
    u: float,
    v: float,
    ray: FloatArray,
    window_px: int,
    min_valid_ratio: float,
    min_range_m: float,
    max_range_m: float,
) -> tuple[DepthSample, FloatArray]:
    """Robust depth at the pixel and the 3D point of the surface seen there (depth along the
    optical axis, so the point is ray * depth / ray_z). LOCATE's answer; PLACE's anchor: a place
    target lies ON the surface under the pointed pixel, so the support plane must pass through
    it (without that a plane tilted through a neighbouring object can win)."""
    sample = sample_depth(
        depth_raw,
        encoding,
        u,
        v,
        window_px=window_px,
        min_valid_ratio=min_valid_ratio,
        min_range_m=min_range_m,
        max_range_m=max_range_m,
    )
    return sample, np.asarray(ray * (sample.depth_m / ray[2]), dtype=np.float64)


def _plane_window(
    camera: CameraModel,
    depth_raw: npt.NDArray[np.generic],
    encoding: str,
    u: float,
    v: float,
    radius_px: int,
    min_range_m: float,
    max_range_m: float,
) -> tuple[FloatArray, FloatArray, int, tuple[int, int]]:
    """Back-projected (N, 3) points of the subsampled window, their (N,) weights, window size and
    centre pixel. Weights are Gaussian in pixel distance with sigma = 2 * radius, a mild
    preference for nearer pixels: the plane must pass through the surface seen at the pointed
    pixel (``_visible_surface``), and among such planes the one most of the window supports
    wins. Narrower weights let a plane tilted through a neighbouring object win (measured on the
    bundled bags, docs/benchmarks.md)."""
    traits = checked_traits(depth_raw, encoding)
    iu, iv = pixel_index(depth_raw, u, v)
    height, width = depth_raw.shape[:2]
    radius = max(int(radius_px), 1)
    stride = max(1, math.ceil((2 * radius + 1) / _MAX_PLANE_SIDE))
    offsets = np.arange(-(radius // stride) * stride, radius + 1, stride)  # holds 0: the pixel
    us, vs = iu + offsets, iv + offsets
    us, vs = us[(us >= 0) & (us < width)], vs[(vs >= 0) & (vs < height)]
    metres = traits.to_metres(depth_raw[vs[0] : vs[-1] + 1 : stride, us[0] : us[-1] + 1 : stride])
    with np.errstate(invalid="ignore"):
        keep = (metres >= min_range_m) & (metres <= max_range_m)
    rows, cols = np.nonzero(keep)
    z = metres[rows, cols].astype(np.float64)
    pu, pv = us[cols].astype(np.float64), vs[rows].astype(np.float64)
    points = np.column_stack(
        ((pu - camera.cx) / camera.fx * z, (pv - camera.cy) / camera.fy * z, z)
    )
    sigma = 2.0 * radius
    weights = np.exp(-0.5 * ((pu - u) ** 2 + (pv - v) ** 2) / sigma**2)
    return points, weights, int(metres.size), (iu, iv)


def _fit_plane(
    points: FloatArray,
    weights: FloatArray,
    threshold_m: float,
    anchor: FloatArray | None = None,
    ray: FloatArray | None = None,
) -> tuple[FloatArray, float, npt.NDArray[np.bool_]]:
    """Plane ``normal @ p + offset = 0`` through (N, 3) points: seeded RANSAC scored by the summed
    weights of its inliers, then two least-squares refits on the inliers. With an ``anchor`` (3,),
    only hypotheses passing within the threshold of it compete (when any does); with the viewing
    ``ray`` (3,, unit), only those seen at least 15 deg off grazing (when any is). Returns the unit
    normal (3,), offset and (N,) inlier mask."""
    rng = np.random.default_rng(_RANSAC_SEED)
    triples = points[rng.integers(0, points.shape[0], size=(_RANSAC_ITERATIONS, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    usable = norms > 1e-9
    normals = normals[usable] / norms[usable, None]
    offsets = -np.einsum("kj,kj->k", normals, triples[usable, 0])
    scores = (np.abs(points @ normals.T + offsets) < threshold_m).T @ weights
    allowed = np.ones(normals.shape[0], dtype=bool)
    for keep in (
        None if ray is None else np.abs(normals @ ray) >= _MIN_HYPOTHESIS_INCIDENCE_COS,
        None if anchor is None else np.abs(normals @ anchor + offsets) < threshold_m,
    ):
        if keep is not None and (allowed & keep).any():
            allowed &= keep
    scores = np.where(allowed, scores, -1.0)
    best = int(np.argmax(scores)) if scores.size else -1
    if best < 0:
        return np.array([0.0, 0.0, 1.0]), 0.0, np.zeros(points.shape[0], dtype=bool)
    normal, offset = normals[best], float(offsets[best])
    inliers = np.abs(points @ normal + offset) < threshold_m
    for _ in range(2):
        if int(inliers.sum()) < 3:
            break
        centroid = points[inliers].mean(axis=0)
        normal = np.linalg.svd(points[inliers] - centroid, full_matrices=False)[2][-1]
        offset = -float(normal @ centroid)
        inliers = np.abs(points @ normal + offset) < threshold_m
    return normal, offset, inliers
