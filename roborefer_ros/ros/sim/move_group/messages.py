"""moveit_msgs in and out of the simulated move_group's plain planning types.

Requests are read the way move_group reads them, for the one group and tip link this cell has:
goal constraints (position: a sphere or box region around a point of the link; orientation: a
quaternion with per-axis tolerances; joint: a position with tolerances above/below) in the planning
frame, the start state (an empty diff = the current state), the workspace box, planning time,
attempts and scaling. What the planner cannot take is refused with MoveIt's error code
(``PlanningError``), never silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.moveit.goals import MoveItErrorCode
from roborefer_ros.sim.motion_planning import (
    Goal,
    JointGoal,
    MotionRequest,
    PlanningError,
    PoseGoal,
    Scaling,
    Trajectory,
    Workspace,
)

FloatArray = npt.NDArray[np.float64]
SPHERE, BOX = 2, 1  # shape_msgs/SolidPrimitive types
_FREE_ORIENTATION_RAD = math.pi  # a position-only goal: any orientation
_FREE_POSITION_M = 100.0  # an orientation-only goal: any position


@dataclass(frozen=True)
class CellModel:
    """What the simulated move_group plans for: its planning frame, group, tip link and joints."""

    planning_frame: str
    group_name: str
    tip_link: str
    joint_names: tuple[str, ...]


def unit_quaternion(msg: Any) -> tuple[float, float, float, float]:
    """geometry_msgs/Quaternion normalised, x y z w (ValueError for a zero quaternion)."""
    q = np.array([msg.x, msg.y, msg.z, msg.w], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not math.isfinite(norm) or norm < 1e-9:
        raise ValueError("the orientation is not a rotation (zero quaternion)")
    x, y, z, w = (float(v) for v in q / norm)
    return x, y, z, w


def pose_of(msg: Any) -> Transform:
    """geometry_msgs/Pose as a Transform (ValueError for a zero quaternion)."""
    p = msg.position
    return Transform((float(p.x), float(p.y), float(p.z)), unit_quaternion(msg.orientation))


def _by_name(cell: CellModel, q: npt.ArrayLike) -> dict[str, float]:
    values = np.asarray(q, dtype=np.float64)
    return {name: float(v) for name, v in zip(cell.joint_names, values, strict=True)}


def check_frame(frame_id: str, cell: CellModel, what: str) -> None:
    if frame_id not in ("", cell.planning_frame):
        raise PlanningError(
            MoveItErrorCode.FRAME_TRANSFORM_FAILURE,
            f"{what} is in '{frame_id}'; this move_group plans in '{cell.planning_frame}'",
        )


def check_link(link: str, cell: CellModel, what: str) -> None:
    if link != cell.tip_link:
        raise PlanningError(
            MoveItErrorCode.INVALID_LINK_NAME,
            f"{what} is for link '{link}'; group '{cell.group_name}' ends at '{cell.tip_link}'",
        )


def _region(constraint: Any) -> tuple[tuple[float, float, float], float]:
    """Centre and radius of a position constraint's region (a box counts by its smallest half
    side: a point inside that sphere is inside the box)."""
    region = constraint.constraint_region
    if len(region.primitives) != 1 or len(region.primitive_poses) != 1:
        raise PlanningError(
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
            "a position constraint needs exactly one primitive and its pose (no meshes)",
        )
    shape, pose = region.primitives[0], region.primitive_poses[0]
    dims = [float(d) for d in shape.dimensions]
    if shape.type == SPHERE and len(dims) >= 1:
        radius = dims[0]
    elif shape.type == BOX and len(dims) >= 3:
        radius = min(dims[:3]) / 2.0
    else:
        raise PlanningError(
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
            f"position constraint region of type {shape.type} is not a sphere or a box",
        )
    if not (math.isfinite(radius) and radius > 0):
        raise PlanningError(
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, f"region size {radius!r} is not positive"
        )
    p = pose.position
    return (float(p.x), float(p.y), float(p.z)), radius


def goal_of(constraints: Any, cell: CellModel, current_q: npt.ArrayLike, tip: Transform) -> Goal:
    """One ``moveit_msgs/Constraints`` as a pose or joint goal. Missing parts come from the
    current state (``current_q``, the tip's pose ``tip``) with no tolerance on them."""
    joints = list(constraints.joint_constraints)
    positions = list(constraints.position_constraints)
    orientations = list(constraints.orientation_constraints)
    if joints and (positions or orientations):
        raise PlanningError(
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, "joint and pose constraints in one goal"
        )
    if joints:
        target = {
            name: float(q)
            for name, q in zip(
                cell.joint_names, np.asarray(current_q, dtype=np.float64), strict=True
            )
        }
        tolerance = dict.fromkeys(cell.joint_names, math.inf)
        for c in joints:
            if c.joint_name not in target:
                raise PlanningError(
                    MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
                    f"joint '{c.joint_name}' is not in group '{cell.group_name}'",
                )
            target[c.joint_name] = float(c.position)
            tolerance[c.joint_name] = min(float(c.tolerance_above), float(c.tolerance_below))
        return JointGoal(
            tuple(target[j] for j in cell.joint_names),
            tuple(tolerance[j] for j in cell.joint_names),
        )
    if not positions and not orientations:
        raise PlanningError(MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, "an empty goal constraint")
    if len(positions) > 1 or len(orientations) > 1:
        raise PlanningError(
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
            "at most one position and one orientation constraint per goal (one tip link)",
        )
    rotation = tip.quat_xyzw
    axis_tol: tuple[float, float, float] = (_FREE_ORIENTATION_RAD,) * 3
    if orientations:
        o = orientations[0]
        check_frame(o.header.frame_id, cell, "the orientation constraint")
        check_link(o.link_name, cell, "the orientation constraint")
        try:
            rotation = unit_quaternion(o.orientation)
        except ValueError as err:
            raise PlanningError(MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, str(err)) from None
        axis_tol = (
            abs(float(o.absolute_x_axis_tolerance)),
            abs(float(o.absolute_y_axis_tolerance)),
            abs(float(o.absolute_z_axis_tolerance)),
        )
    centre, radius = tip.translation, _FREE_POSITION_M
    if positions:
        c = positions[0]
        check_frame(c.header.frame_id, cell, "the position constraint")
        check_link(c.link_name, cell, "the position constraint")
        centre, radius = _region(c)
        offset = np.array(
            [c.target_point_offset.x, c.target_point_offset.y, c.target_point_offset.z]
        )
        if np.any(offset != 0.0):
            if not orientations:
                raise PlanningError(
                    MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
                    "a target_point_offset needs an orientation constraint to place the link",
                )
            # the offset point (in the link frame) must reach the centre: move the link back
            R = Transform((0.0, 0.0, 0.0), rotation).rotation_matrix()
            cx, cy, cz = (float(v) for v in np.asarray(centre) - R @ offset)
            centre = (cx, cy, cz)
    return PoseGoal(Transform(centre, rotation), radius, axis_tol)


def start_of(start_state: Any, cell: CellModel, current_q: npt.ArrayLike) -> FloatArray:
    """The request's start state: the current one, with the joints it names replaced (an empty
    diff is the current state; a full state must name every joint of the group)."""
    q = {
        name: float(v)
        for name, v in zip(cell.joint_names, np.asarray(current_q, dtype=np.float64), strict=True)
    }
    given = dict(zip(start_state.joint_state.name, start_state.joint_state.position, strict=False))
    if not start_state.is_diff and given and not set(cell.joint_names) <= set(given):
        raise PlanningError(
            MoveItErrorCode.INVALID_ROBOT_STATE,
            f"the start state must give every joint of {list(cell.joint_names)}",
        )
    for name, value in given.items():
        if name in q:
            q[name] = float(value)
    return np.array([q[j] for j in cell.joint_names], dtype=np.float64)


def workspace_of(params: Any, cell: CellModel) -> Workspace | None:
    """The workspace box, or None when the request leaves it empty (all zero)."""
    lo, hi = params.min_corner, params.max_corner
    corners = (float(lo.x), float(lo.y), float(lo.z)), (float(hi.x), float(hi.y), float(hi.z))
    if not any(corners[0]) and not any(corners[1]):
        return None
    check_frame(params.header.frame_id, cell, "the workspace")
    if any(a > b for a, b in zip(*corners, strict=True)):
        raise PlanningError(
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, "workspace min_corner exceeds max_corner"
        )
    return Workspace(*corners)


def motion_request_of(
    request: Any,
    cell: CellModel,
    current_q: npt.ArrayLike,
    tip: Transform,
    default_planning_time_s: float,
) -> MotionRequest:
    """A ``moveit_msgs/MotionPlanRequest`` as a MotionRequest (PlanningError when refused)."""
    if request.group_name != cell.group_name:
        raise PlanningError(
            MoveItErrorCode.INVALID_GROUP_NAME,
            f"group '{request.group_name}' unknown (this move_group has '{cell.group_name}')",
        )
    goals = tuple(goal_of(c, cell, current_q, tip) for c in request.goal_constraints)
    planning_time = float(request.allowed_planning_time)
    if not (math.isfinite(planning_time) and planning_time > 0):
        planning_time = default_planning_time_s
    return MotionRequest(
        goals=goals,
        planning_time_s=planning_time,
        attempts=max(1, int(request.num_planning_attempts)),
        scaling=Scaling(
            float(request.max_velocity_scaling_factor),
            float(request.max_acceleration_scaling_factor),
        ).clamped(),
        workspace=workspace_of(request.workspace_parameters, cell),
    )


def _duration(seconds: float) -> Any:
    from builtin_interfaces.msg import Duration

    ns = round(seconds * 1e9)
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def robot_trajectory_msg(trajectory: Trajectory, frame: str, message_type: Any) -> Any:
    """``moveit_msgs/RobotTrajectory`` of a planned trajectory (its joint part)."""
    from trajectory_msgs.msg import JointTrajectoryPoint

    msg = message_type()
    jt = msg.joint_trajectory
    jt.header.frame_id = frame
    jt.joint_names = list(trajectory.joint_names)
    for t, q, qd in zip(
        trajectory.times_s, trajectory.positions, trajectory.velocities, strict=True
    ):
        jt.points.append(
            JointTrajectoryPoint(
                positions=list(q), velocities=list(qd), time_from_start=_duration(t)
            )
        )
    return msg


def robot_state_msg(names: Sequence[str], q: npt.ArrayLike, message_type: Any) -> Any:
    """``moveit_msgs/RobotState`` with the arm's joint positions."""
    msg = message_type()
    msg.joint_state.name = list(names)
    msg.joint_state.position = [float(v) for v in np.asarray(q, dtype=np.float64)]
    return msg
