"""sim_move_group's parameters (read once at start-up; the names follow move_group's own where
it has one: ``allowed_execution_duration_scaling``, ``allowed_goal_duration_margin``,
``allowed_start_tolerance``, ``execution_duration_monitoring``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rclpy.node import Node

from roborefer_ros.ros.params import ParameterSpec, declare_parameters

P = ParameterSpec
SIM_MOVE_GROUP_PARAMETERS: tuple[ParameterSpec, ...] = (
    P("robot", "ur5e", "Simulated cell whose model is planned for (the ur5e only)."),
    P("planning_frame", "base_link", "Frame of goals, waypoints and the workspace box."),
    P("group_name", "ur_manipulator", "The planning group (ur_moveit_config's name)."),
    P("tip_link", "tool0", "The group's tip: pose goals and Cartesian paths are for it."),
    P(
        "controller_action",
        "/scaled_joint_trajectory_controller/follow_joint_trajectory",
        "FollowJointTrajectory action trajectories are executed through.",
    ),
    P("joint_states_topic", "/joint_states", "The robot's joint states."),
    P(
        "robot_state_timeout_s",
        2.0,
        "Wait this long for a joint state before ROBOT_STATE_STALE.",
        range=(0.0, 60.0),
    ),
    P(
        "default_planning_time_s",
        5.0,
        "Planning time when a request gives none.",
        range=(0.01, 600.0),
    ),
    P(
        "execution_duration_monitoring",
        True,
        "Cancel a trajectory that overruns its duration (TIMED_OUT), as MoveIt does.",
    ),
    P(
        "allowed_execution_duration_scaling",
        1.2,
        "A trajectory may take this many times its duration...",
        range=(1.0, 100.0),
    ),
    P(
        "allowed_goal_duration_margin",
        0.5,
        "... plus this many seconds.",
        range=(0.0, 600.0),
    ),
    P(
        "allowed_start_tolerance",
        0.01,
        "A trajectory must start within this of the current joints (rad); 0 disables.",
        range=(0.0, 3.2),
    ),
    P("controller_wait_s", 5.0, "Wait this long for the controller's server.", range=(0.0, 60.0)),
    P("seed", 0, "Seed of the planner's random IK restarts and RRTConnect.", range=(0, 2**31 - 1)),
)


@dataclass(frozen=True)
class SimMoveGroupConfig:
    robot: str
    planning_frame: str
    group_name: str
    tip_link: str
    controller_action: str
    joint_states_topic: str
    robot_state_timeout_s: float
    default_planning_time_s: float
    execution_duration_monitoring: bool
    allowed_execution_duration_scaling: float
    allowed_goal_duration_margin: float
    allowed_start_tolerance: float
    controller_wait_s: float
    seed: int


def read_config(values: dict[str, Any]) -> SimMoveGroupConfig:
    """The config of parameter values; ValueError naming the bad value."""
    for name in ("planning_frame", "group_name", "tip_link", "controller_action"):
        if not str(values[name]).strip():
            raise ValueError(f"{name} must not be empty")
    return SimMoveGroupConfig(
        robot=str(values["robot"]),
        planning_frame=str(values["planning_frame"]),
        group_name=str(values["group_name"]),
        tip_link=str(values["tip_link"]),
        controller_action=str(values["controller_action"]),
        joint_states_topic=str(values["joint_states_topic"]),
        robot_state_timeout_s=float(values["robot_state_timeout_s"]),
        default_planning_time_s=float(values["default_planning_time_s"]),
        execution_duration_monitoring=bool(values["execution_duration_monitoring"]),
        allowed_execution_duration_scaling=float(values["allowed_execution_duration_scaling"]),
        allowed_goal_duration_margin=float(values["allowed_goal_duration_margin"]),
        allowed_start_tolerance=float(values["allowed_start_tolerance"]),
        controller_wait_s=float(values["controller_wait_s"]),
        seed=int(values["seed"]),
    )


def declare_and_read(node: Node) -> SimMoveGroupConfig:
    declare_parameters(node, SIM_MOVE_GROUP_PARAMETERS)
    return read_config(
        {spec.name: node.get_parameter(spec.name).value for spec in SIM_MOVE_GROUP_PARAMETERS}
    )
