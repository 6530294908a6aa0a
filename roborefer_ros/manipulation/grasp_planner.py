"""Grasp and place steps from RefPoint targets (ROS-free): where the tool centre point goes.

Inputs, all in the plan frame (e.g. ``base_link`` for the UR5, ``torso_link`` for the G1):

- the pick point: a point on the object, as RefPoint LOCATE returns it (on the surface the camera
  sees; the LOCATE pose's +z is the viewing ray, which a top-down grasp does not need);
- the place surface: a point on the support surface and its normal (RefPoint PLACE: pose +z).

Output: a ``StepPlan`` of tool-centre-point (TCP) poses — pre-grasp, linear approach, close, linear
lift, pre-place, linear place, open, linear retreat. The TCP sits between the fingertips; the
flange pose (``tool0``) is a backend concern (each backend composes its own TCP offset), so the
same plan drives MoveIt, the simulation and the G1.

Geometry, with ``a`` the approach axis (the TCP's +z) and ``d`` the grasp depth:

- grasp TCP = pick point + a * d, where d = min(half the object's extent along a, finger depth):
  the fingers close around the object's middle when they are long enough, else as deep as they go;
- pre-grasp = grasp - a * approach_distance; lift = grasp + up * lift_distance;
- place TCP = surface point + n * (TCP height above the object's bottom + clearance). For a
  top-down pick that height is ``size_z - d`` (= half the height when the grasp is at the middle);
  for a place-only goal (the object is already held) it is assumed to be half the height;
- pre-place = place + n * approach_distance; retreat = place - a_place * retreat_distance.

Orientation. ``TOP_DOWN`` (the UR5): the TCP z points down (-z of the plan frame); a yaw ``t``
about the plan frame's z gives quat_xyzw (cos t/2, sin t/2, 0, 0), so the TCP x axis is
(cos t, sin t, 0) and the fingers close along the TCP y axis (sin t, -cos t, 0). The yaw is the
configured one, else it turns the fingers across the narrower horizontal side when the object's
size is known, else 0; yaws are folded into (-pi/2, pi/2] (a parallel gripper is symmetric). At
the place the TCP z is -n with the grasp's x axis kept (on a level surface: the same yaw).
``FRONTAL`` (the G1): the hand approaches along the plan frame's +x (torso forward), its x axis is
"up" turned by ``frontal_roll_rad`` about the approach axis, and it keeps that orientation when it
places and backs away along -x.
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
    lift_distance_m: float = 0.10
    retreat_distance_m: float = 0.10
    place_clearance_m: float = 0.015
    max_finger_depth_m: float = 0.03  # deepest the TCP may go past the pointed surface
    default_object_size_m: Vec3 = (0.06, 0.06, 0.08)  # used for unknown (<= 0) extents
    grasp_yaw_rad: float | None = None  # TOP_DOWN: fixed yaw; None = narrower side, else 0
    frontal_roll_rad: float = 0.0  # FRONTAL: hand roll about the approach axis
    free_speed_scale: float = 1.0  # MOVE steps
    linear_speed_scale: float = 0.25  # LINEAR steps: slow near the object

    def __post_init__(self) -> None:
        for name in (
            "approach_distance_m",
            "lift_distance_m",
            "retreat_distance_m",
            "place_clearance_m",
            "max_finger_depth_m",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
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
    approach_distance_m: float | None = None  # overrides the config when > 0
    lift_distance_m: float | None = None


def top_down_quat(yaw_rad: float) -> QuatXYZW:
    """TCP z along -z of the plan frame, turned by ``yaw_rad`` about z (the notes' formula)."""
    return (math.cos(yaw_rad / 2), math.sin(yaw_rad / 2), 0.0, 0.0)


def fold_yaw(yaw_rad: float) -> float:
    """The equivalent parallel-gripper yaw in (-pi/2, pi/2] (t and t + pi grasp alike)."""
    folded = math.remainder(yaw_rad, math.pi)  # in [-pi/2, pi/2]
    return math.pi / 2 if math.isclose(folded, -math.pi / 2) else folded


def choose_yaw(cfg: GraspConfig, size_m: Vec3) -> float:
    """Configured yaw, else fingers across the narrower horizontal side, else 0.

    The fingers close along the TCP y axis, which is the plan frame's -y at yaw 0 and its +x at
    yaw pi/2. ``size_m`` holds the known extents (unknown ones <= 0).
    """
    if cfg.grasp_yaw_rad is not None:
        return fold_yaw(cfg.grasp_yaw_rad)
    size_x, size_y = size_m[0], size_m[1]
    if size_x > 0 and size_y > 0 and size_x < size_y:
        return math.pi / 2
    return 0.0


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


def grasp_frame(cfg: GraspConfig, known_size_m: Vec3) -> tuple[FloatArray, QuatXYZW]:
    """(approach axis = TCP +z, grasp orientation) in the plan frame."""
    if cfg.style is GraspStyle.TOP_DOWN:
        return np.array([0.0, 0.0, -1.0]), top_down_quat(choose_yaw(cfg, known_size_m))
    approach = np.array([1.0, 0.0, 0.0])
    roll = cfg.frontal_roll_rad
    # x axis: "up" turned by the roll about the approach axis (+x): up -> (0, -sin r, cos r).
    x_axis = np.array([0.0, -math.sin(roll), math.cos(roll)])
    return approach, quat_from_axes(approach, x_axis)


def plan_pick_place(request: PlanRequest, cfg: GraspConfig) -> StepPlan:
    """The StepPlan for the request; PickPlaceError(BAD_REQUEST) when it asks for nothing."""
    if request.pick_point is None and request.place is None:
        raise PickPlaceError(PickPlaceStatus.BAD_REQUEST, "neither a pick nor a place to plan")
    known, size = _size(request, cfg)
    approach_m = request.approach_distance_m or 0.0
    approach_m = approach_m if approach_m > 0 else cfg.approach_distance_m
    lift_m = request.lift_distance_m or 0.0
    lift_m = lift_m if lift_m > 0 else cfg.lift_distance_m
    axis, q_grasp = grasp_frame(cfg, known)
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
        steps += [
            Step(
                StepKind.MOVE,
                Stage.APPROACH,
                "pre-grasp",
                _t(grasp - axis * approach_m, q_grasp),
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
            place_axis = -normal
        else:
            q_place, place_axis = q_grasp, axis
        place = surface + normal * (held_height + cfg.place_clearance_m)
        retreat = place - place_axis * cfg.retreat_distance_m
        steps += [
            Step(
                StepKind.MOVE,
                Stage.PLACE,
                "pre-place",
                _t(place + normal * approach_m, q_place),
                fast,
            ),
            Step(StepKind.LINEAR, Stage.PLACE, "place", _t(place, q_place), slow),
            Step(StepKind.OPEN, Stage.PLACE, "open"),
            Step(StepKind.LINEAR, Stage.RETREAT, "retreat", _t(retreat, q_place), slow),
        ]
    return StepPlan(frame=request.frame, steps=tuple(steps), object_half_height_m=size[2] / 2)
