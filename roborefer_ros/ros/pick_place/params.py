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
    P("refer_wait_s", 5.0, "How long a goal waits for the RefPoint service.", range=(0.0, 600.0)),
    P(
        "refer_timeout_s",
        60.0,
        "Deadline of one RefPoint call (model included).",
        range=(0.1, 3600.0),
    ),
    P(
        "refer_retries",
        1,
        "Extra RefPoint calls after NO_FRAME, STALE_FRAME or TF_ERROR (these can pass).",
        range=(0, 10),
    ),
    P("refer_retry_delay_s", 0.5, "Pause before such a retry.", range=(0.0, 60.0)),
    P(
        "manipulation_backend",
        "moveit",
        "What moves the robot: moveit (UR5 + move_group), g1 or none (dry runs only).",
    ),
    P("grasp_style", "top_down", "top_down (UR5) or frontal (G1: approach along the plan x)."),
    P("approach_distance_m", 0.10, "Pre-grasp / pre-place distance.", range=(0.0, 1.0)),
    P(
        "place_approach_distance_m",
        0.0,
        "Pre-place distance; 0: approach_distance_m.",
        range=(0.0, 1.0),
    ),
    P("lift_distance_m", 0.10, "Lift after the grasp.", range=(0.0, 1.0)),
    P("retreat_distance_m", 0.10, "Retreat after the release.", range=(0.0, 1.0)),
    P("place_clearance_m", 0.015, "Gap above the surface when releasing.", range=(0.0, 0.2)),
    P(
        "max_finger_depth_m",
        0.03,
        "Deepest the TCP goes past the pointed surface.",
        range=(0.0, 0.3),
    ),
    P(
        "default_object_size_m",
        [0.06, 0.06, 0.08],
        "Object extents (x, y, z) used when a goal leaves object_size_m zero.",
    ),
    P("grasp_yaw_auto", True, "top_down: turn the fingers across the narrower known side."),
    P("grasp_yaw_rad", 0.0, "top_down: yaw when grasp_yaw_auto is off.", range=(-6.3, 6.3)),
    P("frontal_roll_rad", 0.0, "frontal: hand roll about the approach axis.", range=(-6.3, 6.3)),
    P(
        "frontal_min_height_m",
        0.0,
        "frontal: TCP at least this far above the object's bottom (hand below its TCP).",
        range=(0.0, 0.5),
    ),
    P(
        "frontal_descent_m",
        0.0,
        "frontal: reach the pre-grasp from this far above it, then descend (0: directly).",
        range=(0.0, 0.3),
    ),
    P("linear_speed_scale", 0.25, "Speed scale of approach/lift/place/retreat.", range=(0.01, 1.0)),
    P("workspace_min_xyz", [0.15, -0.6, -0.05], "Workspace box corner (plan frame, m)."),
    P("workspace_max_xyz", [0.9, 0.6, 0.7], "Workspace box corner (plan frame, m)."),
    P("min_depth_valid_ratio", 0.5, "Reject targets with less valid depth.", range=(0.0, 1.0)),
    P("max_target_age_s", 10.0, "Reject older targets; 0 disables.", range=(0.0, 3600.0)),
    P("max_surface_tilt_deg", 30.0, "Reject steeper place surfaces.", range=(0.0, 90.0)),
    P(
        "min_object_confidence",
        0.3,
        "Reject a pick whose perceived object extent is less certain (no goal size/yaw).",
        range=(0.0, 1.0),
    ),
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


def vec3_value(values: dict[str, Any], name: str) -> tuple[float, float, float]:
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
        default_object_size_m=vec3_value(values, "default_object_size_m"),
        grasp_yaw_rad=None if values["grasp_yaw_auto"] else float(values["grasp_yaw_rad"]),
        frontal_roll_rad=float(values["frontal_roll_rad"]),
        frontal_min_height_m=float(values["frontal_min_height_m"]),
        frontal_descent_m=float(values["frontal_descent_m"]),
        linear_speed_scale=float(values["linear_speed_scale"]),
    )
    safety = SafetyConfig(
        workspace=WorkspaceBox(
            vec3_value(values, "workspace_min_xyz"), vec3_value(values, "workspace_max_xyz")
        ),
        min_depth_valid_ratio=float(values["min_depth_valid_ratio"]),
        max_target_age_s=float(values["max_target_age_s"]),
        max_surface_tilt_deg=float(values["max_surface_tilt_deg"]),
        min_object_confidence=float(values["min_object_confidence"]),
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
    )


def default_values() -> dict[str, Any]:
    return {spec.name: spec.default for spec in PICK_PLACE_PARAMETERS}


def declare_and_read(node: Node) -> PickPlaceNodeConfig:
    declare_parameters(node, PICK_PLACE_PARAMETERS)
    return read_config(
        {spec.name: node.get_parameter(spec.name).value for spec in PICK_PLACE_PARAMETERS}
    )
