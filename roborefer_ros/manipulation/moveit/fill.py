"""Copy the MoveIt goal dataclasses into message objects (ROS-free: the classes are injected).

The message classes come in a ``MoveItTypes`` namespace: the real ones from moveit_msgs,
shape_msgs, control_msgs and geometry_msgs on a robot (``ros/pick_place/moveit_backend.py``), or
test doubles built from the exact upstream field lists, whose ``__slots__`` make a misspelt field
fail exactly as a real rclpy message does. Version differences are handled by feature checks on the
message, never by a distro name: Humble's ``MotionPlanRequest.cartesian_speed_end_effector_link``
is ``cartesian_speed_limited_link`` from Iron on, and newer ``GetCartesianPath`` requests have
jump thresholds per joint type, scaling factors and a speed limit that older ones lack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.moveit import goals as g

SPEED_LINK_FIELDS = ("cartesian_speed_limited_link", "cartesian_speed_end_effector_link")


@dataclass(frozen=True)
class MoveItTypes:
    """Message classes the fillers instantiate."""

    MoveGroupGoal: Any  # moveit_msgs.action.MoveGroup.Goal
    Constraints: Any
    PositionConstraint: Any
    OrientationConstraint: Any
    SolidPrimitive: Any  # shape_msgs.msg.SolidPrimitive
    Pose: Any  # geometry_msgs.msg.Pose
    GetCartesianPathRequest: Any  # moveit_msgs.srv.GetCartesianPath.Request
    ExecuteTrajectoryGoal: Any  # moveit_msgs.action.ExecuteTrajectory.Goal
    GripperCommandGoal: Any  # control_msgs.action.GripperCommand.Goal


def has_field(msg: Any, name: str) -> bool:
    """Whether the message type declares the field (rosidl: get_fields_and_field_types)."""
    fields = getattr(type(msg), "get_fields_and_field_types", None)
    if fields is not None:
        return name in fields()
    return hasattr(msg, name)


def speed_link_field(msg: Any) -> str:
    """The name of the Cartesian speed link field this message version has."""
    for name in SPEED_LINK_FIELDS:
        if has_field(msg, name):
            return name
    raise AttributeError(f"{type(msg).__name__} has none of the fields {SPEED_LINK_FIELDS}")


def fill_pose(msg: Any, T: Transform) -> Any:
    msg.position.x, msg.position.y, msg.position.z = (float(c) for c in T.translation)
    q = msg.orientation
    q.x, q.y, q.z, q.w = (float(c) for c in T.quat_xyzw)
    return msg


def _position_constraint(spec: g.PositionConstraint, t: MoveItTypes) -> Any:
    msg = t.PositionConstraint()
    msg.header.frame_id = spec.frame_id
    msg.link_name = spec.link_name
    off = msg.target_point_offset
    off.x, off.y, off.z = (float(c) for c in spec.target_point_offset)
    sphere = t.SolidPrimitive()
    sphere.type = t.SolidPrimitive.SPHERE
    sphere.dimensions = [float(spec.radius_m)]  # index SPHERE_RADIUS = 0
    msg.constraint_region.primitives = [sphere]
    msg.constraint_region.primitive_poses = [fill_pose(t.Pose(), Transform(spec.center))]
    msg.weight = float(spec.weight)
    return msg


def _orientation_constraint(spec: g.OrientationConstraint, t: MoveItTypes) -> Any:
    msg = t.OrientationConstraint()
    msg.header.frame_id = spec.frame_id
    q = msg.orientation
    q.x, q.y, q.z, q.w = (float(c) for c in spec.quat_xyzw)
    msg.link_name = spec.link_name
    msg.absolute_x_axis_tolerance = float(spec.absolute_x_axis_tolerance)
    msg.absolute_y_axis_tolerance = float(spec.absolute_y_axis_tolerance)
    msg.absolute_z_axis_tolerance = float(spec.absolute_z_axis_tolerance)
    msg.parameterization = int(spec.parameterization)
    msg.weight = float(spec.weight)
    return msg


def _constraints(spec: g.Constraints, t: MoveItTypes) -> Any:
    msg = t.Constraints()
    msg.name = spec.name
    msg.position_constraints = [_position_constraint(c, t) for c in spec.position_constraints]
    msg.orientation_constraints = [
        _orientation_constraint(c, t) for c in spec.orientation_constraints
    ]
    return msg


def fill_move_group_goal(spec: g.MoveGroupGoal, t: MoveItTypes) -> Any:
    """A MoveGroup action goal from the dataclass."""
    goal = t.MoveGroupGoal()
    req, r = goal.request, spec.request
    req.start_state.is_diff = r.start_state_is_diff
    req.goal_constraints = [_constraints(c, t) for c in r.goal_constraints]
    req.pipeline_id = r.pipeline_id
    req.planner_id = r.planner_id
    req.group_name = r.group_name
    req.num_planning_attempts = int(r.num_planning_attempts)
    req.allowed_planning_time = float(r.allowed_planning_time)
    req.max_velocity_scaling_factor = float(r.max_velocity_scaling_factor)
    req.max_acceleration_scaling_factor = float(r.max_acceleration_scaling_factor)
    setattr(req, speed_link_field(req), r.cartesian_speed_limited_link)
    req.max_cartesian_speed = float(r.max_cartesian_speed)
    opts, o = goal.planning_options, spec.planning_options
    opts.planning_scene_diff.is_diff = o.planning_scene_is_diff
    opts.planning_scene_diff.robot_state.is_diff = o.planning_scene_robot_state_is_diff
    opts.plan_only = o.plan_only
    opts.look_around = o.look_around
    opts.replan = o.replan
    return goal


def fill_cartesian_request(spec: g.CartesianPathRequest, t: MoveItTypes) -> Any:
    """A GetCartesianPath request; fields newer than the message version are skipped."""
    req = t.GetCartesianPathRequest()
    req.header.frame_id = spec.frame_id
    req.start_state.is_diff = spec.start_state_is_diff
    req.group_name = spec.group_name
    req.link_name = spec.link_name
    req.waypoints = [fill_pose(t.Pose(), T) for T in spec.waypoints]
    req.max_step = float(spec.max_step)
    req.jump_threshold = float(spec.jump_threshold)
    req.avoid_collisions = bool(spec.avoid_collisions)
    optional: dict[str, float | str] = {
        "prismatic_jump_threshold": float(spec.prismatic_jump_threshold),
        "revolute_jump_threshold": float(spec.revolute_jump_threshold),
        "max_velocity_scaling_factor": float(spec.max_velocity_scaling_factor),
        "max_acceleration_scaling_factor": float(spec.max_acceleration_scaling_factor),
        "max_cartesian_speed": float(spec.max_cartesian_speed),
    }
    for name, value in optional.items():
        if has_field(req, name):
            setattr(req, name, value)
    for name in SPEED_LINK_FIELDS:
        if has_field(req, name):
            setattr(req, name, spec.cartesian_speed_limited_link)
    return req


def fill_execute_goal(trajectory: Any, t: MoveItTypes) -> Any:
    """An ExecuteTrajectory goal for a planned RobotTrajectory (controllers: move_group's)."""
    goal = t.ExecuteTrajectoryGoal()
    goal.trajectory = trajectory
    return goal


def fill_gripper_goal(spec: g.GripperCommand, t: MoveItTypes) -> Any:
    goal = t.GripperCommandGoal()
    goal.command.position = float(spec.position)
    goal.command.max_effort = float(spec.max_effort)
    return goal
