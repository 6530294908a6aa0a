"""The pointed object's extent, yaw and height, seen in the same RGB-D frame the point came from.

A planner asked to "pick the cup to the left of the plate" knows neither the cup's size nor how it
is turned; this estimates both from the frozen frame around the pointed pixel (ROS-free, numpy):

1. **Support plane.** Points of a window about ``window_radius_m`` wide around the object are
   back-projected; a seeded RANSAC keeps the plane with the most points that faces the camera and
   lies at least ``min_height_m`` below the pointed point (so never a plane through the object),
   refined by least squares on its inliers. Its normal, oriented to the camera's side, is "up".
2. **Segmentation.** Window pixels higher than ``min_height_m`` above the plane are candidates; the
   object is the candidates connected (4-neighbours on the sampling grid) to the pointed pixel
   without a depth jump between neighbours larger than ``max(jump_min_m, jump_rel * depth)`` (an
   edge against a background or a taller/shorter neighbour) and, with ``colour_max`` set, without
   a colour step larger than it (for neighbours touching at the same height).
3. **Extent.** The object's points are projected onto the plane. The height is the 98th
   percentile of their heights above it. The footprint is the minimum-area rectangle of the
   projected points (rotating calipers on their convex hull): its long side gives the object's x
   axis and length, the short side its width.
4. **The hidden side.** The camera sees one side. A footprint that fills its rectangle like a disc
   (fill ratio below ``round_fill_max``, aspect below ``round_aspect_max``; or, seen only in part,
   the near half of its outline on a circle as wide as its silhouette) is ROUND: its diameter
   is the extent across the horizontal viewing direction (the silhouette's width, always seen
   whole) and its centre is completed symmetrically behind the nearest visible point (a sphere's
   or can's far half mirrors its near half); yaw means nothing for it. Otherwise it is a BOX: the
   top face, seen from above, projects onto the whole footprint; where the far side was not seen
   (the camera at the object's height) the extent along the viewing direction is kept at least
   the width across it (conservative: never thinner than it is wide).

Confidence (0..1) multiplies the evidence: enough object points, a support plane that explains
most of the window's background, an object that does not run out of the window or the image, and
the share of the footprint the visible points cover (``visible_fraction``). A ROUND body cut by
the image's border is the exception: its circle is fixed by the arc seen, so the evidence is the
share of its disc inside the view; a cut box's hidden side could lie anywhere (0.3), unless the
cut took only a side face or a corner of it: when each of its footprint rectangle's four sides
rests on points away from the border, the rectangle is fixed and the box is seen whole. Nothing
here raises for a bad scene: an estimate that could not be made has confidence 0 and says why
(``reason``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.depth import checked_traits
from roborefer_ros.core.transforms import Transform

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_RANSAC_SEED = 0  # the same frame always gives the same plane
_MAX_GRID_SIDE = 120  # the window is subsampled to at most ~120 x 120 points
_COVER_CELL_M = 0.004  # grid cell of the footprint coverage (visible_fraction)
_HANDLE_GAP_M = 0.004  # points farther outside a round body than this may be a handle


class Shape(Enum):
    UNKNOWN = 0
    BOX = 1  # a rectangle footprint: yaw defined modulo pi (modulo pi/2 when square)
    ROUND = 2  # a disc footprint: yaw undefined (reported 0)


@dataclass(frozen=True)
class ExtentConfig:
    """Thresholds of the estimate (metres unless named otherwise)."""

    window_radius_m: float = 0.22  # half side of the window around the pointed point
    min_height_m: float = 0.008  # above the support plane: part of an object
    plane_threshold_m: float = 0.004  # plane inlier distance (grows with 0.5 % of the depth)
    jump_min_m: float = 0.015  # neighbours farther apart in depth are not connected
    jump_rel: float = 0.03  # ... or farther than this share of their depth
    colour_max: float | None = None  # chromaticity distance (x 255, L2) of alike neighbours
    jump_far_m: float = 0.06  # alike neighbours stay connected across a depth step up to this
    round_fill_max: float = 0.86  # hull area / rectangle area below this: a disc (pi/4 = 0.785)
    round_aspect_max: float = 1.25  # a disc's rectangle is nearly square
    # A body seen only in part (a sphere from above at an angle: its far side beyond the top is
    # hidden) fills up to ~0.87 of a long rectangle. It is still ROUND when the near half of its
    # outline lies on a circle (RMS residual below this) as wide as its silhouette, with nothing
    # sticking out of it. Boxes fill >= 0.95 of theirs.
    partial_round_fill_max: float = 0.9
    partial_round_rms_m: float = 0.002
    min_points: int = 30  # object points needed for any estimate

    def __post_init__(self) -> None:
        for name in ("window_radius_m", "min_height_m", "plane_threshold_m", "jump_min_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"ExtentConfig.{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class ObjectExtent:
    """The pointed object's footprint box in the camera's optical frame (metres).

    ``centre_camera``: the footprint's centre on the support plane (the object's base);
    ``body_centre_camera``: the centre of its main body there (a cup's without its handle: where
    a grasp closes).
    ``x_axis_camera``: unit, in the plane, along the footprint's length; ``up_camera``: the
    plane's unit normal towards the camera's side. ``length_m >= width_m`` along x and across it,
    ``height_m`` above the plane. ``confidence`` 0..1; ``visible_fraction``: share of the footprint
    the visible points cover; ``reason``: why the confidence is low (empty when it is not).
    """

    centre_camera: FloatArray
    x_axis_camera: FloatArray
    up_camera: FloatArray
    body_centre_camera: FloatArray  # (3,) the main body's base centre (a cup's without its handle)
    length_m: float
    width_m: float
    height_m: float
    shape: Shape
    confidence: float
    visible_fraction: float
    n_points: int
    reason: str = ""

    @property
    def size_m(self) -> tuple[float, float, float]:
        """Extents along the object's own x (length), y (width) and z (height)."""
        return (self.length_m, self.width_m, self.height_m)

    def in_frame(self, T_frame_from_camera: Transform) -> FramedExtent:
        """The estimate in another frame whose z is "up" (a plan frame): the footprint centre,
        the object's centre (half its height above the base) and the yaw of its x axis about z."""
        centre = np.asarray(T_frame_from_camera.apply(self.centre_camera), dtype=np.float64)
        up = np.asarray(T_frame_from_camera.rotate(self.up_camera), dtype=np.float64)
        x_axis = np.asarray(T_frame_from_camera.rotate(self.x_axis_camera), dtype=np.float64)
        yaw = math.atan2(x_axis[1], x_axis[0])
        middle = centre + up * (0.5 * self.height_m)
        body = np.asarray(T_frame_from_camera.apply(self.body_centre_camera), dtype=np.float64)
        body = body + up * (0.5 * self.height_m)
        return FramedExtent(
            body_centre=(float(body[0]), float(body[1]), float(body[2])),
            base_centre=(float(centre[0]), float(centre[1]), float(centre[2])),
            centre=(float(middle[0]), float(middle[1]), float(middle[2])),
            up=(float(up[0]), float(up[1]), float(up[2])),
            x_axis=(float(x_axis[0]), float(x_axis[1]), float(x_axis[2])),
            yaw_rad=yaw,
            size_m=self.size_m,
            shape=self.shape,
            confidence=self.confidence,
            visible_fraction=self.visible_fraction,
            note=self.reason,
        )


@dataclass(frozen=True)
class FramedExtent:
    """An ``ObjectExtent`` in a z-up frame: what a grasp planner takes."""

    base_centre: tuple[float, float, float]  # the footprint's centre, on the support
    centre: tuple[float, float, float]  # half the height above it
    body_centre: tuple[float, float, float]  # the main body's, at mid-height: where to grasp
    up: tuple[float, float, float]  # the support's unit normal
    x_axis: tuple[float, float, float]  # unit, along the object's length (ROUND: line of sight)
    yaw_rad: float  # of the object's x axis about z (ROUND: the horizontal line of sight)
    size_m: tuple[float, float, float]  # along the object's own x, y, z
    shape: Shape
    confidence: float
    visible_fraction: float
    note: str = ""  # why the confidence is low


def _failed(reason: str, n_points: int = 0) -> ObjectExtent:
    zero = np.zeros(3)
    return ObjectExtent(
        zero, np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0]), zero, 0.0, 0.0, 0.0,
        Shape.UNKNOWN, 0.0, 0.0, n_points, reason,
    )  # fmt: skip


def estimate_extent(
    camera: CameraModel,
    depth_raw: npt.NDArray[np.generic],
    encoding: str,
    pixel: tuple[float, float],
    point_camera: FloatArray,
    rgb: npt.NDArray[np.uint8] | None = None,
    config: ExtentConfig | None = None,
) -> ObjectExtent:
    """The extent of the object seen at ``pixel`` (u = column, v = row) whose surface point there
    is ``point_camera`` (the LOCATE answer, optical frame). ``rgb`` (HxWx3) is used only with
    ``config.colour_max``. Never raises for scene content; raises RefPointError only for an
    unsupported depth encoding (as the lifting before it would)."""
    cfg = config or ExtentConfig()
    traits = checked_traits(depth_raw, encoding)
    z0 = float(point_camera[2])
    if not (math.isfinite(z0) and z0 > 0):
        return _failed(f"no depth at the pointed pixel ({z0})")
    img_h, img_w = depth_raw.shape[:2]
    if not (0 <= round(pixel[0]) < img_w and 0 <= round(pixel[1]) < img_h):
        return _failed(f"the pointed pixel ({pixel[0]:.1f}, {pixel[1]:.1f}) is outside the image")
    radius = int(min(max(camera.fx * cfg.window_radius_m / z0, 8.0), max(img_h, img_w)))
    stride = max(1, math.ceil((2 * radius + 1) / _MAX_GRID_SIDE))
    iu, iv = round(pixel[0]), round(pixel[1])
    u_lo, u_hi = max(0, iu - radius), min(img_w - 1, iu + radius)
    v_lo, v_hi = max(0, iv - radius), min(img_h - 1, iv + radius)
    # a grid aligned on the pointed pixel, so it is one of the samples
    us = np.arange(iu - ((iu - u_lo) // stride) * stride, u_hi + 1, stride)
    vs = np.arange(iv - ((iv - v_lo) // stride) * stride, v_hi + 1, stride)
    depth = traits.to_metres(depth_raw[vs[0] : vs[-1] + 1 : stride, us[0] : us[-1] + 1 : stride])
    z = depth.astype(np.float64)
    valid = np.isfinite(z) & (z > 0.0)
    uu, vv = np.meshgrid(us.astype(np.float64), vs.astype(np.float64))
    points = np.stack(
        ((uu - camera.cx) / camera.fx * z, (vv - camera.cy) / camera.fy * z, z), axis=-1
    )
    seed = ((iv - vs[0]) // stride, (iu - us[0]) // stride)

    plane = _support_plane(points[valid], point_camera, cfg)
    if plane is None:
        return _failed("no support plane below the pointed point")
    normal, offset, plane_share = plane
    heights = np.where(valid, points @ normal + offset, -np.inf)
    candidates = valid & (heights > cfg.min_height_m)
    if not candidates[seed]:
        # the pointed sample may sit on the object's rim: start from the nearest candidate
        near = np.argwhere(candidates)
        if near.size == 0:
            return _failed("nothing above the support plane at the pointed pixel")
        dist = np.abs(near - np.asarray(seed)).sum(axis=1)
        if int(dist.min()) > 2:
            return _failed("nothing above the support plane at the pointed pixel")
        seed = (int(near[int(np.argmin(dist))][0]), int(near[int(np.argmin(dist))][1]))
    colours = None
    if cfg.colour_max is not None and rgb is not None:
        sampled = rgb[vs[0] : vs[-1] + 1 : stride, us[0] : us[-1] + 1 : stride].astype(np.float64)
        # chromaticity x 255: shading (a face turned from the light) changes brightness only
        colours = 255.0 * sampled / np.maximum(sampled.sum(axis=-1, keepdims=True), 1.0)
    region = _connected(candidates, points, seed, cfg, colours)
    lifted = _raised_support(heights, region, seed, cfg)
    if lifted is not None:  # standing on a plate: the plate's top is the support
        offset -= lifted
        heights = heights - lifted
        raised = candidates & (heights > cfg.min_height_m)
        region = _connected(raised, points, seed, cfg, colours)
    n = int(region.sum())
    if n < cfg.min_points:
        return _failed(f"only {n} object points (need {cfg.min_points})", n)
    obj = points[region]
    obj_heights = heights[region]
    top = float(np.percentile(obj_heights, 98))
    # the plane's own 2D basis: e1 along the camera's x projected on the plane
    e1 = np.array([1.0, 0.0, 0.0]) - normal * normal[0]
    if float(np.linalg.norm(e1)) < 1e-6:
        e1 = np.array([0.0, 1.0, 0.0]) - normal * normal[1]
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(normal, e1)
    flat = obj - np.outer(obj @ normal + offset, normal)  # projected onto the plane
    xy = np.column_stack((flat @ e1, flat @ e2))
    # the horizontal viewing direction in the plane (from the camera towards the object)
    view = point_camera - normal * float(point_camera @ normal)
    view2 = np.array([float(view @ e1), float(view @ e2)])
    view2 = view2 / max(float(np.linalg.norm(view2)), 1e-9)
    occluded, hidden = _occluded_outline(region, valid, z, cfg)
    # an occluder in front hides the near side: then complete round bodies from the far side
    near_hidden = bool(hidden.any()) and float(np.median(xy[hidden[region]] @ view2)) < float(
        np.median(xy @ view2)
    )
    footprint = _footprint(xy, view2, obj_heights, top, cfg, near_hidden)
    if footprint is None:
        return _failed("the object's footprint is degenerate", n)
    shape, centre2, axis2, length, width, body2 = footprint
    spacing = stride * z0 / camera.fx
    cut = _cut_sides(region, (us[0], us[-1], vs[0], vs[-1]), (img_w, img_h), stride)
    whole = False
    if cut == "image" and shape is Shape.BOX:
        # samples within three strides of the image's border: a side seen only there may be a cut
        near_border = (
            (uu < 3 * stride)
            | (uu >= img_w - 3 * stride)
            | (vv < 3 * stride)
            | (vv >= img_h - 3 * stride)
        )[region]
        whole = _sides_seen(xy, near_border, centre2, axis2, length, width, spacing)
    # the outermost samples lie on average half a sample spacing inside the object's edges
    length, width = length + spacing / 2, width + spacing / 2
    visible = _coverage(xy, centre2, axis2, length, width, max(_COVER_CELL_M, 1.5 * spacing))
    centre = e1 * centre2[0] + e2 * centre2[1] - normal * offset  # a point of the plane
    body = e1 * body2[0] + e2 * body2[1] - normal * offset
    x_axis = e1 * axis2[0] + e2 * axis2[1]
    x_axis /= np.linalg.norm(x_axis)
    evidence = [min(1.0, n / (4.0 * cfg.min_points)), min(1.0, plane_share / 0.3), visible]
    reasons = []
    if cut == "image" and shape is Shape.ROUND:
        # a circle is fixed by the arc seen (a box's hidden side could lie anywhere): what is
        # uncertain is the share of its disc out of the view
        out = _disc_out_of_view(camera, body, normal, width, top)
        evidence.append(1.0 - out)
        reasons.append(f"the object reaches the image's border ({out:.0%} of its disc out of view)")
    elif whole:
        reasons.append("the object reaches the image's border (its footprint seen whole)")
    elif cut:
        evidence.append(0.3)
        reasons.append(f"the object runs out of the {cut} (part of it unseen)")
    if occluded > 0.15:
        evidence.append(1.0 - occluded)
        reasons.append(f"partly occluded ({occluded:.0%} of its outline borders a nearer surface)")
    if plane_share < 0.3:
        reasons.append(f"the support plane explains only {plane_share:.0%} of the background")
    if visible < 0.5:
        reasons.append(f"only {visible:.0%} of the footprint seen")
    confidence = float(np.prod(evidence))
    return ObjectExtent(
        centre_camera=centre,
        x_axis_camera=x_axis,
        up_camera=normal.copy(),
        body_centre_camera=body,
        length_m=float(length),
        width_m=float(width),
        height_m=top,
        shape=shape,
        confidence=confidence,
        visible_fraction=visible,
        n_points=n,
        reason="; ".join(reasons),
    )


def _footprint(
    xy: FloatArray,
    view2: FloatArray,
    heights: FloatArray,
    top: float,
    cfg: ExtentConfig,
    near_hidden: bool = False,
) -> tuple[Shape, FloatArray, FloatArray, float, float, FloatArray] | None:
    """(shape, centre, x axis, length, width, body centre) of the footprint of the projected
    points ``xy`` (N, 2) in the plane's 2D basis; ``view2``: the horizontal viewing direction
    there. See the module docstring for the rules (a round body may carry a handle: then it is a
    BOX whose x axis points along the handle, and its body's centre is not the box's). With
    ``near_hidden`` (an occluder in front) a round body is completed in front of its farthest
    visible point instead of behind its nearest."""
    rect = _min_area_rectangle(xy)
    if rect is None:
        return None
    across2 = np.array([-view2[1], view2[0]])
    fill_all = rect[4] / max(rect[2] * rect[3], 1e-12)
    circle = _body_circle(xy, rect[0]) if fill_all < cfg.round_fill_max else None
    if circle is not None:
        c, r, _ = circle
        body = np.linalg.norm(xy - c, axis=1) <= r + _HANDLE_GAP_M
        body_rect = _min_area_rectangle(xy[body])
        if body_rect is not None:
            _, _, b_len, b_wid, b_area = body_rect
            fill = b_area / max(b_len * b_wid, 1e-12)
            aspect = max(b_len, b_wid) / max(min(b_len, b_wid), 1e-9)
            if fill < cfg.round_fill_max and aspect < cfg.round_aspect_max:
                handle = _handle(xy[~body], c, r)
                seen = xy[body] if handle is not None else xy
                along, across = seen @ view2, seen @ across2
                diameter = float(across.max() - across.min())
                centre_along = (
                    float(along.max()) - diameter / 2
                    if near_hidden
                    else float(along.min()) + diameter / 2
                )
                centre2 = view2 * centre_along + across2 * (
                    0.5 * float(across.max() + across.min())
                )
                if handle is None:  # x along the line of sight: fingers close across it
                    return Shape.ROUND, centre2, view2, diameter, diameter, centre2
                handle = _handle(xy[~body], centre2, diameter / 2) or handle
                direction, protrusion = handle
                return (
                    Shape.BOX,
                    centre2 + direction * (protrusion / 2),
                    direction,
                    diameter + protrusion,
                    diameter,
                    centre2,
                )
    partial = None
    if fill_all < cfg.partial_round_fill_max:
        partial = _partial_round(xy, rect[0], view2, cfg, near_hidden)
    if partial is not None:
        centre2, diameter = partial
        return Shape.ROUND, centre2, view2, diameter, diameter, centre2
    centre2, axis2, length, width, _ = rect
    # extent along the viewing direction never below half the extent across it when the far
    # side was hidden (the top not seen): conservative completion
    along_len = abs(float(axis2 @ view2)) * length + abs(float(axis2 @ across2)) * width
    across_len = abs(float(axis2 @ across2)) * length + abs(float(axis2 @ view2)) * width
    if along_len < 0.5 * across_len and _top_hidden(heights, top):
        grow = 0.5 * across_len - along_len
        centre2 = centre2 + view2 * (grow / 2)
        if abs(float(axis2 @ view2)) >= abs(float(axis2 @ across2)):
            length += grow
        else:
            width += grow
    if width > length:
        axis2 = np.array([-axis2[1], axis2[0]])
        length, width = width, length
    return Shape.BOX, centre2, axis2, length, width, centre2


def _partial_round(
    xy: FloatArray, guess: FloatArray, view2: FloatArray, cfg: ExtentConfig, near_hidden: bool
) -> tuple[FloatArray, float] | None:
    """(centre, diameter) of a round body seen in part (see ``partial_round_fill_max``), or
    None: the near half of the outline fitted by a circle within ``partial_round_rms_m``, the
    silhouette across the view as wide as that circle (12 %), no point out of it (a handle)."""
    facing = -view2 if near_hidden else view2
    fit = _body_circle(xy, guess, facing)
    if fit is None:
        return None
    c, r, rms = fit
    if rms > cfg.partial_round_rms_m or (np.linalg.norm(xy - c, axis=1) > r + _HANDLE_GAP_M).any():
        return None
    across2 = np.array([-view2[1], view2[0]])
    along, across = xy @ view2, xy @ across2
    diameter = float(across.max() - across.min())
    if abs(diameter - 2 * r) > 0.12 * 2 * r:
        return None
    centre_along = (
        float(along.max()) - diameter / 2 if near_hidden else float(along.min()) + diameter / 2
    )
    return view2 * centre_along + across2 * (0.5 * float(across.max() + across.min())), diameter


def _body_circle(
    xy: FloatArray, guess: FloatArray, facing: FloatArray | None = None
) -> tuple[FloatArray, float, float] | None:
    """A circle through the footprint's outline (the farthest point of each 10-degree sector
    about ``guess``), least squares with points more than ``_HANDLE_GAP_M`` outside it dropped
    twice (a handle); None with too few sectors."""
    rel = xy - guess
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    sector = ((angle + math.pi) / (2 * math.pi) * 36).astype(int) % 36
    radius = np.linalg.norm(rel, axis=1)
    outline = []
    for s in np.unique(sector):
        members = np.nonzero(sector == s)[0]
        outline.append(xy[members[int(np.argmax(radius[members]))]])
    if len(outline) < 12:
        return None
    pts = np.array(outline)
    if facing is not None:  # the near half only: where the body is seen down to its widest
        pts = pts[(pts - guess) @ facing <= 0.0]
        if len(pts) < 8:
            return None
    for _ in range(3):
        a = np.column_stack((2 * pts[:, 0], 2 * pts[:, 1], np.ones(len(pts))))
        b = (pts**2).sum(axis=1)
        (cx, cy, k), *_ = np.linalg.lstsq(a, b, rcond=None)
        r = math.sqrt(max(k + cx * cx + cy * cy, 0.0))
        keep = np.linalg.norm(pts - (cx, cy), axis=1) <= r + _HANDLE_GAP_M
        if keep.sum() < 8:
            return None
        pts = pts[keep]
    rms = float(np.sqrt(np.mean((np.linalg.norm(pts - (cx, cy), axis=1) - r) ** 2)))
    return np.array([cx, cy]), r, rms


def _handle(
    outside: FloatArray, centre: FloatArray, radius: float
) -> tuple[FloatArray, float] | None:
    """(unit direction, protrusion beyond the body) of a handle: enough points outside the round
    body, gathered in one direction; None when there is none."""
    if outside.shape[0] < 6:
        return None
    rel = outside - centre
    units = rel / np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-9)
    mean = units.mean(axis=0)
    if float(np.linalg.norm(mean)) < 0.8:  # spread around: noise, not one handle
        return None
    direction = mean / np.linalg.norm(mean)
    protrusion = float(np.percentile(rel @ direction, 98)) - radius
    return (direction, protrusion) if protrusion > _HANDLE_GAP_M else None


def _support_plane(
    points: FloatArray, pointed: FloatArray, cfg: ExtentConfig
) -> tuple[FloatArray, float, float] | None:
    """(unit normal towards the camera, offset, inlier share) of the plane with most inliers that
    lies at least ``min_height_m`` below the pointed point; None when no such plane."""
    if points.shape[0] < 3 * cfg.min_points:
        return None
    threshold = max(cfg.plane_threshold_m, 0.005 * float(pointed[2]))
    rng = np.random.default_rng(_RANSAC_SEED)
    sample = points if points.shape[0] <= 2000 else points[rng.choice(points.shape[0], 2000)]
    triples = sample[rng.integers(0, sample.shape[0], size=(200, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    norms = np.linalg.norm(normals, axis=1)
    usable = norms > 1e-9
    normals = normals[usable] / norms[usable, None]
    offsets = -np.einsum("kj,kj->k", normals, triples[usable, 0])
    flip = (normals @ np.zeros(3) + offsets) < 0  # the camera (origin) on the + side
    normals[flip] *= -1.0
    offsets[flip] *= -1.0
    above = pointed @ normals.T + offsets  # height of the pointed point above each plane
    # (N, 3) x (3, K) spelled out: a BLAS product with an inner size of 3 is ~10x slower
    distances = (
        sample[:, 0, None] * normals[None, :, 0]
        + sample[:, 1, None] * normals[None, :, 1]
        + sample[:, 2, None] * normals[None, :, 2]
        + offsets[None, :]
    )
    scores = (np.abs(distances) < threshold).sum(axis=0).astype(np.float64)
    scores[above < cfg.min_height_m] = -1.0
    if scores.size == 0 or float(scores.max()) < 3 * cfg.min_points * sample.shape[0] / max(
        points.shape[0], 1
    ):
        return None
    best = int(np.argmax(scores))
    normal, offset = normals[best], float(offsets[best])
    inliers = np.abs(points @ normal + offset) < threshold
    for _ in range(2):
        if int(inliers.sum()) < 3:
            return None
        centroid = points[inliers].mean(axis=0)
        centred = points[inliers] - centroid
        # the least-squares normal: the covariance's eigenvector of the smallest eigenvalue
        normal = np.linalg.eigh(centred.T @ centred)[1][:, 0]
        offset = -float(normal @ centroid)
        if offset < 0:  # keep the camera on the + side
            normal, offset = -normal, -offset
        inliers = np.abs(points @ normal + offset) < threshold
    if float(pointed @ normal + offset) < cfg.min_height_m:
        return None
    return normal, offset, float(inliers.mean())


def _raised_support(
    heights: FloatArray, region: BoolArray, seed: tuple[int, int], cfg: ExtentConfig
) -> float | None:
    """The height of a flat level support the object stands on (a plate on the table): a band of
    the region 1 cm or more below the pointed point that holds a quarter of its points within
    3 mm; None when there is none."""
    below = float(heights[seed]) - 0.01
    values = heights[region]
    low = values[(values > cfg.min_height_m) & (values < below)]
    if low.size < cfg.min_points:
        return None
    bins = np.arange(cfg.min_height_m, below + 0.002, 0.002)
    if bins.size < 2:
        return None
    counts, edges = np.histogram(low, bins=bins)
    mode = 0.5 * float(edges[int(np.argmax(counts))] + edges[int(np.argmax(counts)) + 1])
    band = int(np.sum(np.abs(values - mode) < 0.003))
    return mode if band >= max(cfg.min_points, 0.25 * values.size) else None


def _connected(
    candidates: BoolArray,
    points: FloatArray,
    seed: tuple[int, int],
    cfg: ExtentConfig,
    colours: FloatArray | None,
) -> BoolArray:
    """Candidates reachable from ``seed`` through 4-neighbours without a depth step or (with
    ``colour_max``) a colour step."""
    z = points[..., 2]
    with np.errstate(invalid="ignore"):
        dz_r = np.abs(np.diff(z, axis=1))
        dz_d = np.abs(np.diff(z, axis=0))
        lim_r = np.maximum(cfg.jump_min_m, cfg.jump_rel * np.fmin(z[:, 1:], z[:, :-1]))
        lim_d = np.maximum(cfg.jump_min_m, cfg.jump_rel * np.fmin(z[1:, :], z[:-1, :]))
        link_r = candidates[:, 1:] & candidates[:, :-1] & (dz_r < lim_r)
        link_d = candidates[1:, :] & candidates[:-1, :] & (dz_d < lim_d)
    if colours is not None and cfg.colour_max is not None:
        # a colour step splits touching neighbours; a larger depth step is still one surface
        # where the colour goes on (a sphere's limb)
        same_r = np.linalg.norm(np.diff(colours, axis=1), axis=-1) < cfg.colour_max
        same_d = np.linalg.norm(np.diff(colours, axis=0), axis=-1) < cfg.colour_max
        with np.errstate(invalid="ignore"):
            far_r = candidates[:, 1:] & candidates[:, :-1] & (dz_r < cfg.jump_far_m)
            far_d = candidates[1:, :] & candidates[:-1, :] & (dz_d < cfg.jump_far_m)
        link_r = (link_r | far_r) & same_r
        link_d = (link_d | far_d) & same_d
    region = np.zeros_like(candidates)
    region[seed] = True
    while True:
        grown = region.copy()
        grown[:, 1:] |= region[:, :-1] & link_r
        grown[:, :-1] |= region[:, 1:] & link_r
        grown[1:, :] |= region[:-1, :] & link_d
        grown[:-1, :] |= region[1:, :] & link_d
        if np.array_equal(grown, region):
            return region
        region = grown


def _convex_hull(xy: FloatArray) -> FloatArray:
    """Counter-clockwise hull vertices (K, 2) of (N, 2) points (monotone chain)."""
    pts = np.unique(np.round(xy, 5), axis=0)
    if pts.shape[0] < 3:
        return pts

    def half(order: FloatArray) -> list[FloatArray]:
        chain: list[FloatArray] = []
        for p in order:
            while len(chain) >= 2:
                a, b = chain[-2], chain[-1]
                if (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


def _min_area_rectangle(
    xy: FloatArray,
) -> tuple[FloatArray, FloatArray, float, float, float] | None:
    """(centre (2,), unit axis (2,) of the first side, its length, the other side, hull area) of
    the minimum-area rectangle around the points; None when they span no area."""
    hull = _convex_hull(xy)
    if hull.shape[0] < 3:
        return None
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.linalg.norm(edges, axis=1)
    keep = lengths > 1e-9
    axes = edges[keep] / lengths[keep, None]
    best: tuple[float, FloatArray, FloatArray, FloatArray] | None = None
    for axis in axes:
        normal = np.array([-axis[1], axis[0]])
        a, b = hull @ axis, hull @ normal
        area = float((a.max() - a.min()) * (b.max() - b.min()))
        if best is None or area < best[0]:
            best = (area, axis, a, b)
    assert best is not None
    _, axis, a, b = best
    normal = np.array([-axis[1], axis[0]])
    centre = axis * (0.5 * (a.max() + a.min())) + normal * (0.5 * (b.max() + b.min()))
    x, y = hull[:, 0], hull[:, 1]
    hull_area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return centre, axis, float(a.max() - a.min()), float(b.max() - b.min()), hull_area


def _sides_seen(
    xy: FloatArray,
    near_border: BoolArray,
    centre: FloatArray,
    axis: FloatArray,
    length: float,
    width: float,
    spacing: float,
) -> bool:
    """Whether each side of the footprint rectangle rests on object points away from the image's
    border (``near_border``: per point of ``xy``). A rectangle is fixed by its four sides: a box
    whose side face or corner runs out of the image, its four sides still seen, is seen whole; a
    side seen only along the border may be where the image cut the object."""
    normal = np.array([-axis[1], axis[0]])
    a = (xy - centre) @ axis
    b = (xy - centre) @ normal
    inside = ~near_border
    for along, half in ((a, length / 2), (a, -length / 2), (b, width / 2), (b, -width / 2)):
        if not bool(np.any(inside & (np.abs(along - half) <= spacing))):
            return False
    return True


def _top_hidden(heights: FloatArray, top: float) -> bool:
    """Whether the object's top was barely seen: few points within 1 cm of its top height."""
    return float(np.mean(heights > top - 0.01)) < 0.15


def _coverage(
    xy: FloatArray, centre: FloatArray, axis: FloatArray, length: float, width: float, cell: float
) -> float:
    """Share of the footprint rectangle's cells (``cell`` metres) holding a visible point."""
    normal = np.array([-axis[1], axis[0]])
    a = (xy - centre) @ axis + length / 2
    b = (xy - centre) @ normal + width / 2
    na = max(1, math.ceil(length / cell))
    nb = max(1, math.ceil(width / cell))
    ia = np.clip((a / cell).astype(int), 0, na - 1)
    ib = np.clip((b / cell).astype(int), 0, nb - 1)
    inside = (a >= 0) & (a <= length) & (b >= 0) & (b <= width)
    cells = np.zeros((na, nb), dtype=bool)
    cells[ia[inside], ib[inside]] = True
    # a cell is covered when it or a direct neighbour holds a point (sampling gaps)
    grown = cells.copy()
    grown[1:, :] |= cells[:-1, :]
    grown[:-1, :] |= cells[1:, :]
    grown[:, 1:] |= cells[:, :-1]
    grown[:, :-1] |= cells[:, 1:]
    return float(grown.mean())


def _occluded_outline(
    region: BoolArray, valid: BoolArray, z: FloatArray, cfg: ExtentConfig
) -> tuple[float, BoolArray]:
    """(share, mask) of the region's outline samples whose outside neighbour is a surface nearer
    the camera by more than a depth step: there the object goes on unseen, behind it. (Holes do
    not count: a depth camera drops pixels along every depth edge.)"""
    inside = np.zeros_like(region)
    inside[1:-1, 1:-1] = region[1:-1, 1:-1] & region[:-2, 1:-1] & region[2:, 1:-1]
    inside[1:-1, 1:-1] &= region[1:-1, :-2] & region[1:-1, 2:]
    outline = region & ~inside
    if not outline.any():
        return 0.0, np.zeros_like(region)
    hidden = np.zeros_like(region)
    padded_valid = np.pad(valid, 1, constant_values=True)
    padded_z = np.pad(np.where(valid, z, np.inf), 1, constant_values=np.inf)
    padded_region = np.pad(region, 1, constant_values=False)
    for dv, du in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        rows = slice(1 + dv, padded_valid.shape[0] - 1 + dv)
        cols = slice(1 + du, padded_valid.shape[1] - 1 + du)
        outside = ~padded_region[rows, cols]
        limit = np.maximum(cfg.jump_min_m, cfg.jump_rel * np.where(valid, z, 0.0))
        with np.errstate(invalid="ignore"):
            nearer = padded_z[rows, cols] < np.where(valid, z, np.inf) - limit
        hidden |= outside & padded_valid[rows, cols] & nearer
    hidden &= outline
    return float(hidden.sum() / outline.sum()), hidden


def _disc_out_of_view(
    camera: CameraModel, centre: FloatArray, up: FloatArray, diameter: float, height: float
) -> float:
    """Share of a round body's footprint disc (``centre`` on the support plane, camera frame)
    whose points, at its base or its top, project outside the image."""
    e1 = np.cross(up, [0.0, 0.0, 1.0])
    if float(np.linalg.norm(e1)) < 1e-6:
        e1 = np.cross(up, [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(up, e1)
    radii = (np.arange(5) + 0.5) / 5 * (diameter / 2)
    angles = np.arange(24) * (2 * math.pi / 24)
    rr, aa = np.meshgrid(radii, angles)
    weights = rr.ravel()  # each sample stands for an area proportional to its radius
    disc = centre + np.outer(rr.ravel() * np.cos(aa.ravel()), e1)
    disc = disc + np.outer(rr.ravel() * np.sin(aa.ravel()), e2)

    def in_view(point: FloatArray) -> bool:
        if point[2] <= 0:
            return False
        u, v = camera.project(point)
        return -0.5 <= u <= camera.width - 0.5 and -0.5 <= v <= camera.height - 0.5

    out = np.array([not (in_view(p) and in_view(p + up * height)) for p in disc], dtype=bool)
    return float(weights[out].sum() / weights.sum())


def _cut_sides(
    region: BoolArray, window: tuple[int, int, int, int], image: tuple[int, int], stride: int
) -> str:
    """ "image" when the object reaches a window side that is the image's border, "sampled
    window" when it reaches another window side, "" when it lies inside. ``window``: (first
    column, last column, first row, last row) sampled; ``image``: (width, height)."""
    u0, u1, v0, v1 = window
    width, height = image
    sides = (
        (region[:, 0], u0 - stride < 0),
        (region[:, -1], u1 + stride >= width),
        (region[0, :], v0 - stride < 0),
        (region[-1, :], v1 + stride >= height),
    )
    reached = [at_image for edge, at_image in sides if bool(edge.any())]
    if any(reached):
        return "image"
    return "sampled window" if reached else ""
