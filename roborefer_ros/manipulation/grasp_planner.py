"""Grasp and place steps from RefPoint targets (ROS-free): where the tool centre point goes.

Inputs, all in the plan frame (e.g. ``base_link`` for the UR5, ``torso_link`` for the G1):

- the pick point: a point on the object, as RefPoint LOCATE returns it (on the surface the camera
  sees; the LOCATE pose's +z is the viewing ray, which a top-down grasp does not need);
- the place surface: a point on the support surface and its normal (RefPoint PLACE: pose +z).

Output: a ``StepPlan`` of tool-centre-point (TCP) poses — pre-grasp, linear approach, close, linear
lift, pre-place, linear place, open, linear retreat. The TCP sits between the fingertips; the
flange pose (``tool0``) is a backend concern (each backend composes its own TCP offset), so the
same plan drives MoveIt, the simulation and the G1. A frontal plan also carries the object's
width across the hand (``StepPlan.grip_width_m``): the G1's one-sided hand grips a wide object
off its palm's edge (``G1BridgeConfig.palm_overlap_m``).

Geometry, with ``a`` the approach axis (the TCP's +z) and ``d`` the grasp depth:

- grasp TCP = pick point + a * d, where d = min(half the object's extent along a, finger depth):
  the fingers close around the object's middle when they are long enough, else as deep as they go;
  with the viewing ray (``pick_ray``) and the full size known, the grasp is placed relative to the
  object's estimated centre instead (pick point + ray * half the object's depth along the ray):
  top-down ``d`` below its top, centred in x and y (the estimate moved horizontally towards the
  pick point where it lies farther from it than half the narrower horizontal extent); frontal
  ``d`` past its near face, at its mid-height but at least ``frontal_min_height_m`` above its
  bottom;
- pre-grasp = grasp - a * approach_distance; lift = grasp + up * lift_distance;
- place TCP = surface point + n * (TCP height above the object's bottom + clearance). For a
  top-down pick that height is ``size_z - d`` (= half the height when the grasp is at the middle);
  for a place-only goal (the object is already held) it is assumed to be half the height;
- pre-place = place + n * place_approach_distance (default: approach_distance); retreat =
  place + n * retreat_distance (straight away from the surface, for both styles).

Orientation. ``TOP_DOWN`` (the UR5): the TCP z points down (-z of the plan frame); a yaw ``t``
about the plan frame's z gives quat_xyzw (cos t/2, sin t/2, 0, 0), so the TCP x axis is
(cos t, sin t, 0) and the fingers close along the TCP y axis (sin t, -cos t, 0). The yaw is the
configured one, else it turns the fingers across the narrower horizontal side when the object's
size is known, else 0; yaws are folded into (-pi/2, pi/2] (a parallel gripper is symmetric). At
the place the TCP z is -n with the grasp's x axis kept (on a level surface: the same yaw).
``FRONTAL`` (the G1): the hand approaches along the plan frame's +x (torso forward), its x axis is
"up" turned by ``frontal_roll_rad`` about the approach axis, and it keeps that orientation when it
places and rises from the object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.transforms import QuatXYZW, Transform, Vec3, quat_from_axes
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.steps import Stage, Step, StepKind, StepPlan

FloatArray = npt.NDArray[np.float64]
_UP = np.array([0.0, 0.0, 1.0])


class GraspStyle(Enum):
    TOP_DOWN = "top_down"  # UR5: TCP z along -z of the plan frame
    FRONTAL = "frontal"  # G1: TCP z along +x of the plan frame (torso forward)


@dataclass(frozen=True)
class GraspConfig:
    """How to grasp and place; distances in metres, validated on construction."""

    style: GraspStyle = GraspStyle.TOP_DOWN
    approach_distance_m: float = 0.10
    place_approach_distance_m: float | None = None  # pre-place height; None: approach_distance_m
    lift_distance_m: float = 0.10
    retreat_distance_m: float = 0.10
    place_clearance_m: float = 0.015
    max_finger_depth_m: float = 0.03  # deepest the TCP may go past the pointed surface
    default_object_size_m: Vec3 = (0.06, 0.06, 0.08)  # used for unknown (<= 0) extents
    grasp_yaw_rad: float | None = None  # TOP_DOWN: fixed yaw; None = narrower side, else 0
    frontal_roll_rad: float = 0.0  # FRONTAL: hand roll about the approach axis
    # FRONTAL, object centre known: the TCP at least this far above the object's bottom (a hand
    # whose lower fingers reach below its grasp point must not sweep the support).
    frontal_min_height_m: float = 0.0
    # FRONTAL: reach the pre-grasp from this far above it (MOVE), then descend (LINEAR): a hand
    # swinging down from the chest in joint space sweeps the objects near the corridor.
    frontal_descent_m: float = 0.0
    free_speed_scale: float = 1.0  # MOVE steps
    linear_speed_scale: float = 0.25  # LINEAR steps: slow near the object

    def __post_init__(self) -> None:
        for name in (
            "approach_distance_m",
            "lift_distance_m",
            "retreat_distance_m",
            "place_clearance_m",
            "max_finger_depth_m",
            "frontal_min_height_m",
            "frontal_descent_m",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        place_approach = self.place_approach_distance_m
        if place_approach is not None and not (
            math.isfinite(place_approach) and place_approach > 0
        ):
            raise ValueError(f"place_approach_distance_m must be > 0, got {place_approach!r}")
        if len(self.default_object_size_m) != 3 or not all(
            math.isfinite(s) and s > 0 for s in self.default_object_size_m
        ):
            sizes = self.default_object_size_m
            raise ValueError(f"default_object_size_m must be 3 positive extents, got {sizes}")
        for name in ("free_speed_scale", "linear_speed_scale"):
            value = getattr(self, name)
            if not (0.0 < value <= 1.0):
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        if self.grasp_yaw_rad is not None and not math.isfinite(self.grasp_yaw_rad):
            raise ValueError(f"grasp_yaw_rad must be finite, got {self.grasp_yaw_rad!r}")


@dataclass(frozen=True)
class PlaceSurface:
    point: Vec3  # on the support surface, plan frame
    normal: Vec3  # unit normal, pointing away from the surface (up for a table)


@dataclass(frozen=True)
class PlanRequest:
    """One pick, one place, or both; None means "not this half"."""

    frame: str
    pick_point: Vec3 | None = None
    place: PlaceSurface | None = None
    object_size_m: Vec3 | None = None  # extents along the plan frame x, y, z; <= 0 = unknown
    # Yaw of the object's own x axis about the plan frame's z, when known (e.g. from the mask's
    # minimum-area rectangle); object_size_m then holds the extents along the object's own axes.
    object_yaw_rad: float | None = None
    # Unit viewing ray through the pick point (RefPoint LOCATE pose +z), plan frame; with a fully
    # known size the planner grasps around the object's estimated centre, not the pointed surface.
    pick_ray: Vec3 | None = None
    # The object's centre (the middle of its height), plan frame, when perceived: used instead of
    # the estimate along the viewing ray.
    object_centre: Vec3 | None = None
    approach_distance_m: float | None = None  # overrides the config when > 0
    lift_distance_m: float | None = None


def top_down_quat(yaw_rad: float) -> QuatXYZW:
    """TCP z along -z of the plan frame, turned by ``yaw_rad`` about z (the notes' formula)."""
    return (math.cos(yaw_rad / 2), math.sin(yaw_rad / 2), 0.0, 0.0)


def fold_yaw(yaw_rad: float) -> float:
    """The equivalent parallel-gripper yaw in (-pi/2, pi/2] (t and t + pi grasp alike)."""
    folded = math.remainder(yaw_rad, math.pi)  # in [-pi/2, pi/2]
    return math.pi / 2 if math.isclose(folded, -math.pi / 2) else folded


def choose_yaw(cfg: GraspConfig, size_m: Vec3, object_yaw_rad: float | None = None) -> float:
    """Configured yaw, else fingers across the narrower horizontal side, else 0.

    The fingers close along the TCP y axis, which is the plan frame's -y at yaw 0 and its +x at
    yaw pi/2. ``size_m`` holds the known extents (unknown ones <= 0): along the plan frame's
    axes, or along the object's own axes when ``object_yaw_rad`` (its x axis's yaw) is given.
    """
    if cfg.grasp_yaw_rad is not None:
        return fold_yaw(cfg.grasp_yaw_rad)
    base = 0.0 if object_yaw_rad is None else object_yaw_rad
    size_x, size_y = size_m[0], size_m[1]
    if size_x > 0 and size_y > 0 and size_x < size_y:
        return fold_yaw(base + math.pi / 2)
    return fold_yaw(base)


def _plan_frame_extents(size_m: Vec3, object_yaw_rad: float | None) -> Vec3:
    """Extents along the plan frame's axes of a box with these own extents turned by the yaw."""
    if object_yaw_rad is None or not all(s > 0 for s in size_m[:2]):
        return size_m
    c, s = abs(math.cos(object_yaw_rad)), abs(math.sin(object_yaw_rad))
    return (c * size_m[0] + s * size_m[1], s * size_m[0] + c * size_m[1], size_m[2])


def _vec(value: Vec3 | FloatArray, name: str) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise PickPlaceError(
            PickPlaceStatus.BAD_REQUEST, f"{name} must be 3 finite numbers: {value}"
        )
    return arr


def _t(position: FloatArray, quat: QuatXYZW) -> Transform:
    return Transform((float(position[0]), float(position[1]), float(position[2])), quat)


def _size(request: PlanRequest, cfg: GraspConfig) -> tuple[Vec3, Vec3]:
    """(known extents with unknown ones <= 0, extents with defaults filled in)."""
    known = request.object_size_m or (0.0, 0.0, 0.0)
    if len(known) != 3 or not all(math.isfinite(s) for s in known):
        raise PickPlaceError(
            PickPlaceStatus.BAD_REQUEST, f"object_size_m must be 3 finite numbers: {known}"
        )
    filled = (
        known[0] if known[0] > 0 else cfg.default_object_size_m[0],
        known[1] if known[1] > 0 else cfg.default_object_size_m[1],
        known[2] if known[2] > 0 else cfg.default_object_size_m[2],
    )
    return (known[0], known[1], known[2]), filled


def grasp_frame(
    cfg: GraspConfig, known_size_m: Vec3, object_yaw_rad: float | None = None
) -> tuple[FloatArray, QuatXYZW]:
    """(approach axis = TCP +z, grasp orientation) in the plan frame."""
    if cfg.style is GraspStyle.TOP_DOWN:
        yaw = choose_yaw(cfg, known_size_m, object_yaw_rad)
        return np.array([0.0, 0.0, -1.0]), top_down_quat(yaw)
    approach = np.array([1.0, 0.0, 0.0])
    roll = cfg.frontal_roll_rad
    # x axis: "up" turned by the roll about the approach axis (+x): up -> (0, -sin r, cos r).
    x_axis = np.array([0.0, -math.sin(roll), math.cos(roll)])
    return approach, quat_from_axes(approach, x_axis)


def _centre_estimate(point: FloatArray, ray: Vec3 | None, known: Vec3) -> FloatArray | None:
    """The object's centre behind a pointed surface point: the point moved along the viewing ray
    by half the object's depth along it, ``0.5 * |ray * size|`` (exact for a sphere pointed at
    its middle; for a box or cylinder, for a face pointed at its middle). None without a ray or
    with an unknown extent."""
    if ray is None or not all(s > 0 for s in known):
        return None
    r = _vec(ray, "pick ray")
    norm = float(np.linalg.norm(r))
    if norm < 1e-9:
        raise PickPlaceError(PickPlaceStatus.BAD_REQUEST, "pick ray is zero")
    r = r / norm
    return point + r * (0.5 * float(np.linalg.norm(r * np.asarray(known))))


def _within_footprint(centre: FloatArray, point: FloatArray, own_size_m: Vec3) -> FloatArray:
    """The centre estimate moved horizontally towards the pick point until the point lies within
    the footprint's inscribed circle about it (radius: half the narrower horizontal extent).

    The pick point is on the object, so the body the fingers close on has its axis at most that
    far from it horizontally: exactly so for a round body (cup, can, fruit), conservatively for a
    box (whose corners reach farther, along its longer side, where a top-down grip still lands on
    it). Sliding along a steep viewing ray can carry the estimate beyond that, e.g. when the
    point lies on the top face near its front edge; the fingers would then straddle the body off
    its axis and squeeze it out sideways. Height is left as estimated."""
    radius = 0.5 * min(own_size_m[0], own_size_m[1])
    offset = centre[:2] - point[:2]
    distance = float(np.linalg.norm(offset))
    if distance <= radius:
        return centre
    moved = centre.copy()
    moved[:2] = point[:2] + offset * (radius / distance)
    return moved


def _grasp_from_centre(
    centre: FloatArray, size: Vec3, axis: FloatArray, depth: float, cfg: GraspConfig
) -> tuple[FloatArray, float]:
    """(grasp TCP, TCP height above the object's bottom) for a known centre and size: the TCP
    ``depth`` past the object's near face along the approach axis, centred across it (top-down:
    ``depth`` below the top; frontal: at mid-height, or ``frontal_min_height_m`` above the
    bottom if that is higher)."""
    bottom = float(centre[2]) - size[2] / 2
    if cfg.style is GraspStyle.TOP_DOWN:
        grasp = centre.copy()
        grasp[2] = bottom + size[2] - depth
    else:
        near_face = float(np.dot(centre, axis)) - float(np.dot(np.abs(axis), size)) / 2
        grasp = centre + axis * (near_face + depth - float(np.dot(centre, axis)))
        grasp[2] = max(float(centre[2]), bottom + cfg.frontal_min_height_m)
    return grasp, float(grasp[2]) - bottom


def plan_pick_place(request: PlanRequest, cfg: GraspConfig) -> StepPlan:
    """The StepPlan for the request; PickPlaceError(BAD_REQUEST) when it asks for nothing."""
    if request.pick_point is None and request.place is None:
        raise PickPlaceError(PickPlaceStatus.BAD_REQUEST, "neither a pick nor a place to plan")
    own, _ = _size(request, cfg)
    yaw = request.object_yaw_rad
    if yaw is not None and not math.isfinite(yaw):
        raise PickPlaceError(PickPlaceStatus.BAD_REQUEST, f"object_yaw_rad must be finite: {yaw}")
    known, size = _size(
        PlanRequest(request.frame, object_size_m=_plan_frame_extents(own, yaw)), cfg
    )
    approach_m = request.approach_distance_m or 0.0
    approach_m = approach_m if approach_m > 0 else cfg.approach_distance_m
    place_approach_m = request.approach_distance_m or 0.0
    if place_approach_m <= 0:
        place_approach_m = cfg.place_approach_distance_m or cfg.approach_distance_m
    lift_m = request.lift_distance_m or 0.0
    lift_m = lift_m if lift_m > 0 else cfg.lift_distance_m
    axis, q_grasp = grasp_frame(cfg, own if yaw is not None else known, yaw)
    along = 2 if cfg.style is GraspStyle.TOP_DOWN else 0  # extent the fingers reach into
    depth = min(size[along] / 2, cfg.max_finger_depth_m)
    fast, slow = cfg.free_speed_scale, cfg.linear_speed_scale
    steps: list[Step] = []

    # TCP height above the object's bottom while held: from the grasp when we pick it here.
    held_height = size[2] / 2
    if request.pick_point is not None:
        point = _vec(request.pick_point, "pick point")
        grasp = point + axis * depth
        if cfg.style is GraspStyle.TOP_DOWN:
            held_height = size[2] - depth
        if request.object_centre is not None and all(s > 0 for s in known):
            centre: FloatArray | None = _vec(request.object_centre, "object centre")
        else:
            centre = _centre_estimate(point, request.pick_ray, known)
            if centre is not None and cfg.style is GraspStyle.TOP_DOWN:
                centre = _within_footprint(centre, point, own)
        if centre is not None:
            grasp, held_height = _grasp_from_centre(centre, known, axis, depth, cfg)
        pre_grasp = grasp - axis * approach_m
        if cfg.style is GraspStyle.FRONTAL and cfg.frontal_descent_m > 0:
            above = pre_grasp + _UP * cfg.frontal_descent_m
            steps.append(
                Step(StepKind.MOVE, Stage.APPROACH, "above pre-grasp", _t(above, q_grasp), fast)
            )
        steps += [
            Step(
                StepKind.LINEAR if steps else StepKind.MOVE,
                Stage.APPROACH,
                "pre-grasp",
                _t(pre_grasp, q_grasp),
                fast,
            ),
            Step(StepKind.LINEAR, Stage.APPROACH, "approach", _t(grasp, q_grasp), slow),
            Step(StepKind.CLOSE, Stage.GRASP, "close"),
            Step(StepKind.LINEAR, Stage.LIFT, "lift", _t(grasp + _UP * lift_m, q_grasp), slow),
        ]

    if request.place is not None:
        surface = _vec(request.place.point, "place point")
        normal = _vec(request.place.normal, "place normal")
        norm = float(np.linalg.norm(normal))
        if norm < 1e-9:
            raise PickPlaceError(PickPlaceStatus.BAD_REQUEST, "place normal is zero")
        normal = normal / norm
        if cfg.style is GraspStyle.TOP_DOWN:
            x_grasp = Transform(quat_xyzw=q_grasp).rotate([1.0, 0.0, 0.0])
            q_place = quat_from_axes(-normal, x_grasp)
        else:
            q_place = q_grasp
        place = surface + normal * (held_height + cfg.place_clearance_m)
        # Away from the surface: a frontal hand backing off horizontally would drag the object
        # with its thumb or sweep its neighbours; rising from beside it touches nothing.
        retreat = place + normal * cfg.retreat_distance_m
        steps += [
            Step(
                StepKind.MOVE,
                Stage.PLACE,
                "pre-place",
                _t(place + normal * place_approach_m, q_place),
                fast,
            ),
            Step(StepKind.LINEAR, Stage.PLACE, "place", _t(place, q_place), slow),
            Step(StepKind.OPEN, Stage.PLACE, "open"),
            Step(StepKind.LINEAR, Stage.RETREAT, "retreat", _t(retreat, q_place), slow),
        ]
    # FRONTAL: the hand closes across the plan frame's y (its thumb on one side of the object,
    # palm and fingers on the other); a backend with a one-sided hand needs the width there.
    grip = known[1] if cfg.style is GraspStyle.FRONTAL and request.pick_point is not None else 0.0
    return StepPlan(
        frame=request.frame,
        steps=tuple(steps),
        object_half_height_m=size[2] / 2,
        grip_width_m=max(0.0, grip),
    )
