"""MoveIt 2 goals for the UR5 as typed dataclasses (ROS-free): what ``move_group`` is sent.

Each dataclass mirrors the fields we set of one upstream message, with the same names:
``MoveGroupGoal`` (moveit_msgs/action/MoveGroup goal: ``request`` + ``planning_options``),
``MotionPlanRequest``, ``Constraints`` with one ``PositionConstraint`` (a sphere of the tolerance
radius around the target, in the plan frame) and one ``OrientationConstraint`` (quaternion + axis
tolerances), ``PlanningOptions`` (``planning_scene_diff.is_diff`` and its
``robot_state.is_diff`` true: plan from the current scene and state), ``CartesianPathRequest``
(moveit_msgs/srv/GetCartesianPath request) for LINEAR steps, and ``GripperCommand``
(control_msgs/action/GripperCommand goal for the Robotiq 2F-85: 0.0 open ... 0.8 closed).
``roborefer_ros.manipulation.moveit.fill`` copies them into real messages.

Poses: plan steps are tool-centre-point (TCP) poses; MoveIt plans for ``tool0`` (the flange), so
T_base_from_tool0 = T_base_from_tcp @ inverse(T_tool0_from_tcp), with the TCP 0.16 m along
tool0's z by default (Robotiq 2F-85 on a UR: 0.15-0.17 m; a parameter).

What the tests here prove: field values (group, link, frame, tolerances, TCP composition, scaling,
is_diff flags, Cartesian fields, error-code mapping) and, in
``test/manipulation/moveit/test_fill.py``, that every field name we write exists in the upstream
definitions (Humble and Jazzy). What only a real MoveIt can prove: that the goal is feasible and
planned as intended (IK, collisions, OMPL/Pilz settings), the real TCP offset of the mounted
gripper, controller behaviour, and Robotiq timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from roborefer_ros.core.transforms import QuatXYZW, Transform, Vec3
from roborefer_ros.manipulation.steps import ExecutionStatus


class MoveItErrorCode(IntEnum):
    """moveit_msgs/msg/MoveItErrorCodes constants (values from the upstream .msg)."""

    SUCCESS = 1
    FAILURE = 99999
    PLANNING_FAILED = -1
    INVALID_MOTION_PLAN = -2
    MOTION_PLAN_INVALIDATED_BY_ENVIRONMENT_CHANGE = -3
    CONTROL_FAILED = -4
    UNABLE_TO_AQUIRE_SENSOR_DATA = -5  # sic, the upstream spelling
    TIMED_OUT = -6
    PREEMPTED = -7
    START_STATE_IN_COLLISION = -10
    START_STATE_VIOLATES_PATH_CONSTRAINTS = -11
    GOAL_IN_COLLISION = -12
    GOAL_VIOLATES_PATH_CONSTRAINTS = -13
    GOAL_CONSTRAINTS_VIOLATED = -14
    INVALID_GROUP_NAME = -15
    INVALID_GOAL_CONSTRAINTS = -16
    INVALID_ROBOT_STATE = -17
    INVALID_LINK_NAME = -18
    INVALID_OBJECT_NAME = -19
    FRAME_TRANSFORM_FAILURE = -21
    COLLISION_CHECKING_UNAVAILABLE = -22
    ROBOT_STATE_STALE = -23
    SENSOR_INFO_STALE = -24
    COMMUNICATION_FAILURE = -25
    START_STATE_INVALID = -26
    GOAL_STATE_INVALID = -27
    UNRECOGNIZED_GOAL_TYPE = -28
    CRASH = -29
    ABORT = -30
    NO_IK_SOLUTION = -31


# Errors that happen while the robot moves (or its controllers / sensors fail); everything else
# is a planning failure: nothing moved, the request or the goal was the problem.
_EXECUTION_ERRORS = frozenset(
    {
        MoveItErrorCode.CONTROL_FAILED,
        MoveItErrorCode.TIMED_OUT,
        MoveItErrorCode.MOTION_PLAN_INVALIDATED_BY_ENVIRONMENT_CHANGE,
        MoveItErrorCode.UNABLE_TO_AQUIRE_SENSOR_DATA,
        MoveItErrorCode.ROBOT_STATE_STALE,
        MoveItErrorCode.SENSOR_INFO_STALE,
        MoveItErrorCode.COMMUNICATION_FAILURE,
        MoveItErrorCode.CRASH,
        MoveItErrorCode.ABORT,
        MoveItErrorCode.FAILURE,
    }
)


def execution_status(code: int) -> ExecutionStatus:
    """Map a MoveItErrorCodes value to the backend-neutral ExecutionStatus."""
    if code == MoveItErrorCode.SUCCESS:
        return ExecutionStatus.SUCCEEDED
    if code == MoveItErrorCode.PREEMPTED:
        return ExecutionStatus.CANCELED
    try:
        known = MoveItErrorCode(code)
    except ValueError:
        return ExecutionStatus.EXECUTION_FAILED  # an unknown code: assume the worst
    if known in _EXECUTION_ERRORS:
        return ExecutionStatus.EXECUTION_FAILED
    return ExecutionStatus.PLANNING_FAILED


def describe_error(code: int, message: str = "") -> str:
    """``NO_IK_SOLUTION (-31): <message>`` for logs and results."""
    try:
        name = MoveItErrorCode(code).name
    except ValueError:
        name = "UNKNOWN"
    return f"{name} ({code})" + (f": {message}" if message else "")


@dataclass(frozen=True)
class MoveItConfig:
    """UR5 + ur_moveit_config defaults; every field is a node parameter."""

    group_name: str = "ur_manipulator"
    link_name: str = "tool0"  # the IK tip of the group
    frame: str = "base_link"  # plan frame (not "base": that one is turned 180 deg about z)
    tcp_offset_m: float = 0.16  # TCP along tool0 z
    position_tolerance_m: float = 0.002
    orientation_tolerance_rad: float = 0.01
    allowed_planning_time_s: float = 5.0
    num_planning_attempts: int = 5
    max_velocity_scaling_factor: float = 0.2
    max_acceleration_scaling_factor: float = 0.2
    pipeline_id: str = ""  # empty: move_group's default pipeline
    planner_id: str = ""
    cartesian_max_step_m: float = 0.005
    cartesian_jump_threshold: float = 0.0  # 0 disables the relative jump check
    cartesian_revolute_jump_threshold_rad: float = 0.5  # absolute check, where the msg has it
    cartesian_min_fraction: float = 0.99  # below: the straight line is not feasible
    max_cartesian_speed_mps: float = 0.0  # > 0 limits the TCP link speed where supported
    avoid_collisions: bool = True
    gripper_open_position: float = 0.0
    gripper_closed_position: float = 0.8
    gripper_max_effort: float = 50.0
    # ROS names and waits (used by roborefer_ros.ros.pick_place.moveit_backend).
    move_action: str = "move_action"
    execute_action: str = "execute_trajectory"
    cartesian_service: str = "compute_cartesian_path"
    gripper_action: str = "/robotiq_gripper_controller/gripper_cmd"
    server_timeout_s: float = 2.0  # how long available() waits for each server
    step_timeout_s: float = 60.0  # deadline of one step (planning + execution)
    use_moveit_py: bool = False  # MOVE steps through MoveItPy when importable

    def __post_init__(self) -> None:
        for name in ("position_tolerance_m", "orientation_tolerance_rad", "cartesian_max_step_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_velocity_scaling_factor", "max_acceleration_scaling_factor"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not 0.0 < self.cartesian_min_fraction <= 1.0:
            raise ValueError(
                f"cartesian_min_fraction must be in (0, 1], got {self.cartesian_min_fraction!r}"
            )
        if self.num_planning_attempts < 1 or not self.allowed_planning_time_s > 0:
            raise ValueError(
                f"num_planning_attempts ({self.num_planning_attempts}) must be >= 1 and "
                f"allowed_planning_time_s ({self.allowed_planning_time_s}) > 0"
            )
        if not math.isfinite(self.tcp_offset_m):
            raise ValueError(f"tcp_offset_m must be finite, got {self.tcp_offset_m!r}")

    @property
    def T_tool0_from_tcp(self) -> Transform:
        return Transform((0.0, 0.0, self.tcp_offset_m))


def tool0_pose(T_frame_from_tcp: Transform, T_tool0_from_tcp: Transform) -> Transform:
    """The flange pose that puts the TCP at ``T_frame_from_tcp``."""
    return T_frame_from_tcp @ T_tool0_from_tcp.inverse()


@dataclass(frozen=True)
class PositionConstraint:
    """Keep ``link_name``'s origin (+ offset) inside a sphere around ``center``."""

    frame_id: str  # header.frame_id
    link_name: str
    center: Vec3  # constraint_region.primitive_poses[0].position
    radius_m: float  # constraint_region.primitives[0]: SPHERE, dimensions = [radius]
    target_point_offset: Vec3 = (0.0, 0.0, 0.0)
    weight: float = 1.0


@dataclass(frozen=True)
class OrientationConstraint:
    frame_id: str
    link_name: str
    quat_xyzw: QuatXYZW  # orientation
    absolute_x_axis_tolerance: float
    absolute_y_axis_tolerance: float
    absolute_z_axis_tolerance: float
    parameterization: int = 0  # XYZ_EULER_ANGLES; 1 = ROTATION_VECTOR
    weight: float = 1.0


@dataclass(frozen=True)
class Constraints:
    name: str
    position_constraints: tuple[PositionConstraint, ...] = ()
    orientation_constraints: tuple[OrientationConstraint, ...] = ()


@dataclass(frozen=True)
class MotionPlanRequest:
    group_name: str
    goal_constraints: tuple[Constraints, ...]
    num_planning_attempts: int
    allowed_planning_time: float  # seconds
    max_velocity_scaling_factor: float
    max_acceleration_scaling_factor: float
    pipeline_id: str = ""
    planner_id: str = ""
    start_state_is_diff: bool = True  # empty diff = the current state
    # Humble: cartesian_speed_end_effector_link; Iron+: cartesian_speed_limited_link.
    cartesian_speed_limited_link: str = ""
    max_cartesian_speed: float = 0.0


@dataclass(frozen=True)
class PlanningOptions:
    plan_only: bool
    planning_scene_is_diff: bool = True  # planning_scene_diff.is_diff
    planning_scene_robot_state_is_diff: bool = True  # planning_scene_diff.robot_state.is_diff
    look_around: bool = False
    replan: bool = False


@dataclass(frozen=True)
class MoveGroupGoal:
    request: MotionPlanRequest
    planning_options: PlanningOptions


@dataclass(frozen=True)
class CartesianPathRequest:
    """GetCartesianPath request: straight lines through ``waypoints`` (link poses, frame_id)."""

    frame_id: str  # header.frame_id
    group_name: str
    link_name: str
    waypoints: tuple[Transform, ...]
    max_step: float
    jump_threshold: float
    avoid_collisions: bool
    start_state_is_diff: bool = True
    # Newer fields, written only where the message has them (feature check in moveit.fill):
    prismatic_jump_threshold: float = 0.0
    revolute_jump_threshold: float = 0.0
    max_velocity_scaling_factor: float = 1.0
    max_acceleration_scaling_factor: float = 1.0
    cartesian_speed_limited_link: str = ""
    max_cartesian_speed: float = 0.0


@dataclass(frozen=True)
class GripperCommand:
    """control_msgs/action/GripperCommand goal: ``command.position`` / ``command.max_effort``."""

    position: float
    max_effort: float


def _scale(cfg_value: float, step_scale: float) -> float:
    return min(1.0, max(1e-3, cfg_value * step_scale))


def pose_goal(
    T_frame_from_tcp: Transform,
    cfg: MoveItConfig,
    plan_only: bool = False,
    speed_scale: float = 1.0,
) -> MoveGroupGoal:
    """A MoveGroup goal that brings the TCP to the pose (tool0 planned with the TCP offset)."""
    flange = tool0_pose(T_frame_from_tcp, cfg.T_tool0_from_tcp)
    tol = cfg.orientation_tolerance_rad
    constraints = Constraints(
        name="roborefer_pose_goal",
        position_constraints=(
            PositionConstraint(
                cfg.frame, cfg.link_name, flange.translation, cfg.position_tolerance_m
            ),
        ),
        orientation_constraints=(
            OrientationConstraint(cfg.frame, cfg.link_name, flange.quat_xyzw, tol, tol, tol),
        ),
    )
    request = MotionPlanRequest(
        group_name=cfg.group_name,
        goal_constraints=(constraints,),
        num_planning_attempts=cfg.num_planning_attempts,
        allowed_planning_time=cfg.allowed_planning_time_s,
        max_velocity_scaling_factor=_scale(cfg.max_velocity_scaling_factor, speed_scale),
        max_acceleration_scaling_factor=_scale(cfg.max_acceleration_scaling_factor, speed_scale),
        pipeline_id=cfg.pipeline_id,
        planner_id=cfg.planner_id,
        cartesian_speed_limited_link=cfg.link_name if cfg.max_cartesian_speed_mps > 0 else "",
        max_cartesian_speed=cfg.max_cartesian_speed_mps,
    )
    return MoveGroupGoal(request, PlanningOptions(plan_only=plan_only))


def cartesian_request(
    tcp_waypoints: tuple[Transform, ...], cfg: MoveItConfig, speed_scale: float = 1.0
) -> CartesianPathRequest:
    """A straight TCP line through the waypoints, as tool0 poses (LINEAR steps)."""
    if not tcp_waypoints:
        raise ValueError("a Cartesian path needs at least one waypoint")
    return CartesianPathRequest(
        frame_id=cfg.frame,
        group_name=cfg.group_name,
        link_name=cfg.link_name,
        waypoints=tuple(tool0_pose(T, cfg.T_tool0_from_tcp) for T in tcp_waypoints),
        max_step=cfg.cartesian_max_step_m,
        jump_threshold=cfg.cartesian_jump_threshold,
        avoid_collisions=cfg.avoid_collisions,
        revolute_jump_threshold=cfg.cartesian_revolute_jump_threshold_rad,
        max_velocity_scaling_factor=_scale(cfg.max_velocity_scaling_factor, speed_scale),
        max_acceleration_scaling_factor=_scale(cfg.max_acceleration_scaling_factor, speed_scale),
        cartesian_speed_limited_link=cfg.link_name if cfg.max_cartesian_speed_mps > 0 else "",
        max_cartesian_speed=cfg.max_cartesian_speed_mps,
    )


def gripper_command(close: bool, cfg: MoveItConfig) -> GripperCommand:
    position = cfg.gripper_closed_position if close else cfg.gripper_open_position
    return GripperCommand(position=position, max_effort=cfg.gripper_max_effort)
