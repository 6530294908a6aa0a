"""pick_place_node's parameters: declared in one place, read once into a frozen config.

All are read-only (fixed at start-up): changing the workspace box or the TCP offset under a
running goal would make its safety checks lie. ``read_config`` takes a plain dict, so the
validation is testable without a node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rclpy.node import Node

from roborefer_ros.manipulation.grasp_planner import GraspConfig, GraspStyle
from roborefer_ros.manipulation.moveit_goals import MoveItConfig
from roborefer_ros.manipulation.pick_place import ReferRetry
from roborefer_ros.manipulation.safety import SafetyConfig, WorkspaceBox
from roborefer_ros.ros.params import ParameterSpec, declare_parameters

P = ParameterSpec
PICK_PLACE_PARAMETERS: tuple[ParameterSpec, ...] = (
    P(
        "plan_frame",
        "base_link",
        "Frame of plans and targets when a goal leaves target_frame empty.",
    ),
    P("refer_service", "/refer_node/refer", "RefPoint service of the refer node."),
    P("refer_wait_s", 5.0, "How long a goal waits for the RefPoint service.", True, 0.0, 600.0),
    P(
        "refer_timeout_s",
        60.0,
        "Deadline of one RefPoint call (model included).",
        True,
        0.1,
        3600.0,
    ),
    P(
        "refer_retries",
        1,
        "Extra RefPoint calls after NO_FRAME, STALE_FRAME or TF_ERROR (these can pass).",
        True,
        0,
        10,
    ),
    P("refer_retry_delay_s", 0.5, "Pause before such a retry.", True, 0.0, 60.0),
    P(
        "manipulation_backend",
        "moveit",
        "What moves the robot: moveit (UR5 + move_group), sim, g1 or none (dry runs only).",
    ),
    P("grasp_style", "top_down", "top_down (UR5) or frontal (G1: approach along the plan x)."),
    P("approach_distance_m", 0.10, "Pre-grasp / pre-place distance.", True, 0.0, 1.0),
    P(
        "place_approach_distance_m",
        0.0,
        "Pre-place distance; 0: approach_distance_m.",
        True,
        0.0,
        1.0,
    ),
    P("lift_distance_m", 0.10, "Lift after the grasp.", True, 0.0, 1.0),
    P("retreat_distance_m", 0.10, "Retreat after the release.", True, 0.0, 1.0),
    P("place_clearance_m", 0.015, "Gap above the surface when releasing.", True, 0.0, 0.2),
    P("max_finger_depth_m", 0.03, "Deepest the TCP goes past the pointed surface.", True, 0.0, 0.3),
    P(
        "default_object_size_m",
        [0.06, 0.06, 0.08],
        "Object extents (x, y, z) used when a goal leaves object_size_m zero.",
    ),
    P("grasp_yaw_auto", True, "top_down: turn the fingers across the narrower known side."),
    P("grasp_yaw_rad", 0.0, "top_down: yaw when grasp_yaw_auto is off.", True, -6.3, 6.3),
    P("frontal_roll_rad", 0.0, "frontal: hand roll about the approach axis.", True, -6.3, 6.3),
    P(
        "frontal_min_height_m",
        0.0,
        "frontal: TCP at least this far above the object's bottom (hand below its TCP).",
        True,
        0.0,
        0.5,
    ),
    P("linear_speed_scale", 0.25, "Speed scale of approach/lift/place/retreat.", True, 0.01, 1.0),
    P("workspace_min_xyz", [0.15, -0.6, -0.05], "Workspace box corner (plan frame, m)."),
    P("workspace_max_xyz", [0.9, 0.6, 0.7], "Workspace box corner (plan frame, m)."),
    P("min_depth_valid_ratio", 0.5, "Reject targets with less valid depth.", True, 0.0, 1.0),
    P("max_target_age_s", 10.0, "Reject older targets; 0 disables.", True, 0.0, 3600.0),
    P("max_surface_tilt_deg", 30.0, "Reject steeper place surfaces.", True, 0.0, 90.0),
    P("moveit_group", "ur_manipulator", "moveit: planning group."),
    P("moveit_link", "tool0", "moveit: link the goals are for (the group's tip)."),
    P("tcp_offset_m", 0.16, "moveit: TCP distance along the link's z.", True, -1.0, 1.0),
    P("position_tolerance_m", 0.002, "moveit: goal sphere radius.", True, 1e-5, 0.1),
    P("orientation_tolerance_rad", 0.01, "moveit: goal axis tolerances.", True, 1e-4, 3.2),
    P("planning_time_s", 5.0, "moveit: allowed_planning_time.", True, 0.01, 600.0),
    P("planning_attempts", 5, "moveit: num_planning_attempts.", True, 1, 1000),
    P("velocity_scaling", 0.2, "moveit: max_velocity_scaling_factor.", True, 0.001, 1.0),
    P("acceleration_scaling", 0.2, "moveit: max_acceleration_scaling_factor.", True, 0.001, 1.0),
    P("pipeline_id", "", "moveit: planning pipeline; empty = move_group's default."),
    P("planner_id", "", "moveit: planner; empty = the pipeline's default."),
    P("cartesian_max_step_m", 0.005, "moveit: Cartesian path resolution.", True, 1e-4, 0.1),
    P(
        "cartesian_min_fraction",
        0.99,
        "moveit: share of a line that must be feasible.",
        True,
        0.01,
        1.0,
    ),
    P("move_action", "move_action", "moveit: MoveGroup action."),
    P("execute_action", "execute_trajectory", "moveit: ExecuteTrajectory action."),
    P("cartesian_service", "compute_cartesian_path", "moveit: GetCartesianPath service."),
    P("gripper_action", "/robotiq_gripper_controller/gripper_cmd", "GripperCommand action."),
    P("gripper_open_position", 0.0, "Robotiq position when open.", True, 0.0, 1.0),
    P("gripper_closed_position", 0.8, "Robotiq position when closed.", True, 0.0, 1.0),
    P("gripper_max_effort", 50.0, "GripperCommand max_effort.", True, 0.0, 1000.0),
    P("server_timeout_s", 2.0, "moveit: wait for each server before a goal.", True, 0.0, 60.0),
    P("step_timeout_s", 60.0, "moveit: deadline of one step.", True, 0.1, 3600.0),
    P("use_moveit_py", False, "moveit: MOVE steps through MoveItPy when importable."),
    P("sim_action", "/sim_node/execute_steps", "sim: ExecuteSteps action of the sim node."),
    P("sim_server_wait_s", 5.0, "sim: wait for the sim node before a plan.", True, 0.0, 600.0),
    P("sim_timeout_s", 300.0, "sim: deadline of a whole plan.", True, 0.1, 3600.0),
)


@dataclass(frozen=True)
class PickPlaceNodeConfig:
    plan_frame: str
    refer_service: str
    refer_timeout_s: float
    refer_wait_s: float
    refer_retry: ReferRetry
    manipulation_backend: str
    grasp: GraspConfig
    safety: SafetyConfig
    moveit: MoveItConfig


def _vec3(values: dict[str, Any], name: str) -> tuple[float, float, float]:
    raw = [float(v) for v in values[name]]
    if len(raw) != 3 or not all(math.isfinite(v) for v in raw):
        raise ValueError(f"{name} must be 3 finite numbers, got {list(values[name])}")
    return (raw[0], raw[1], raw[2])


def read_config(values: dict[str, Any]) -> PickPlaceNodeConfig:
    """Validated config from parameter values; ValueError names the bad one."""
    try:
        style = GraspStyle(str(values["grasp_style"]))
    except ValueError:
        raise ValueError(
            f"grasp_style must be top_down or frontal, got {values['grasp_style']!r}"
        ) from None
    plan_frame = str(values["plan_frame"]).strip()
    if not plan_frame:
        raise ValueError("plan_frame must not be empty")
    place_approach = float(values["place_approach_distance_m"])
    grasp = GraspConfig(
        style=style,
        approach_distance_m=float(values["approach_distance_m"]),
        place_approach_distance_m=place_approach if place_approach > 0 else None,
        lift_distance_m=float(values["lift_distance_m"]),
        retreat_distance_m=float(values["retreat_distance_m"]),
        place_clearance_m=float(values["place_clearance_m"]),
        max_finger_depth_m=float(values["max_finger_depth_m"]),
        default_object_size_m=_vec3(values, "default_object_size_m"),
        grasp_yaw_rad=None if values["grasp_yaw_auto"] else float(values["grasp_yaw_rad"]),
        frontal_roll_rad=float(values["frontal_roll_rad"]),
        frontal_min_height_m=float(values["frontal_min_height_m"]),
        linear_speed_scale=float(values["linear_speed_scale"]),
    )
    safety = SafetyConfig(
        workspace=WorkspaceBox(
            _vec3(values, "workspace_min_xyz"), _vec3(values, "workspace_max_xyz")
        ),
        min_depth_valid_ratio=float(values["min_depth_valid_ratio"]),
        max_target_age_s=float(values["max_target_age_s"]),
        max_surface_tilt_deg=float(values["max_surface_tilt_deg"]),
    )
    moveit = MoveItConfig(
        group_name=str(values["moveit_group"]),
        link_name=str(values["moveit_link"]),
        frame=plan_frame,
        tcp_offset_m=float(values["tcp_offset_m"]),
        position_tolerance_m=float(values["position_tolerance_m"]),
        orientation_tolerance_rad=float(values["orientation_tolerance_rad"]),
        allowed_planning_time_s=float(values["planning_time_s"]),
        num_planning_attempts=int(values["planning_attempts"]),
        max_velocity_scaling_factor=float(values["velocity_scaling"]),
        max_acceleration_scaling_factor=float(values["acceleration_scaling"]),
        pipeline_id=str(values["pipeline_id"]),
        planner_id=str(values["planner_id"]),
        cartesian_max_step_m=float(values["cartesian_max_step_m"]),
        cartesian_min_fraction=float(values["cartesian_min_fraction"]),
        move_action=str(values["move_action"]),
        execute_action=str(values["execute_action"]),
        cartesian_service=str(values["cartesian_service"]),
        gripper_action=str(values["gripper_action"]),
        gripper_open_position=float(values["gripper_open_position"]),
        gripper_closed_position=float(values["gripper_closed_position"]),
        gripper_max_effort=float(values["gripper_max_effort"]),
        server_timeout_s=float(values["server_timeout_s"]),
        step_timeout_s=float(values["step_timeout_s"]),
        use_moveit_py=bool(values["use_moveit_py"]),
    )
    return PickPlaceNodeConfig(
        plan_frame=plan_frame,
        refer_service=str(values["refer_service"]),
        refer_timeout_s=float(values["refer_timeout_s"]),
        refer_wait_s=float(values["refer_wait_s"]),
        refer_retry=ReferRetry(int(values["refer_retries"]), float(values["refer_retry_delay_s"])),
        manipulation_backend=str(values["manipulation_backend"]),
        grasp=grasp,
        safety=safety,
        moveit=moveit,
    )


def default_values() -> dict[str, Any]:
    return {spec.name: spec.default for spec in PICK_PLACE_PARAMETERS}


def declare_and_read(node: Node) -> PickPlaceNodeConfig:
    declare_parameters(node, PICK_PLACE_PARAMETERS)
    return read_config(
        {spec.name: node.get_parameter(spec.name).value for spec in PICK_PLACE_PARAMETERS}
    )
