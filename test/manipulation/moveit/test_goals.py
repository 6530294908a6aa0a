"""MoveIt goal dataclasses: pose goal fields, tolerances, frames, TCP offset, Cartesian request,
error codes. What a real move_group does with them is outside these tests (see the module doc)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.grasp_planner import top_down_quat
from roborefer_ros.manipulation.moveit.goals import (
    MoveItConfig,
    MoveItErrorCode,
    cartesian_request,
    describe_error,
    execution_status,
    gripper_command,
    pose_goal,
    tool0_pose,
)
from roborefer_ros.manipulation.steps import ExecutionStatus

CFG = MoveItConfig()
TCP = Transform((0.5, 0.1, 0.07), top_down_quat(0.4))


def test_tool0_sits_the_tcp_offset_behind_the_tcp_along_its_z() -> None:
    flange = tool0_pose(TCP, CFG.T_tool0_from_tcp)
    np.testing.assert_allclose(flange.translation, (0.5, 0.1, 0.07 + 0.16), atol=1e-12)  # above
    np.testing.assert_allclose(flange.rotation_matrix(), TCP.rotation_matrix(), atol=1e-12)
    # and back: flange @ T_tool0_from_tcp is the TCP
    np.testing.assert_allclose(
        (flange @ CFG.T_tool0_from_tcp).translation, TCP.translation, atol=1e-12
    )
    tilted = Transform((0.4, 0, 0.3), (0.0, math.sin(0.3), 0.0, math.cos(0.3)))
    z = tilted.rotate([0, 0, 1])
    np.testing.assert_allclose(
        tool0_pose(tilted, MoveItConfig(tcp_offset_m=0.15).T_tool0_from_tcp).translation,
        np.asarray(tilted.translation) - 0.15 * z,
        atol=1e-12,
    )


def test_pose_goal_fields() -> None:
    goal = pose_goal(TCP, CFG)
    r = goal.request
    assert r.group_name == "ur_manipulator"
    assert r.num_planning_attempts == 5 and r.allowed_planning_time == 5.0
    assert r.max_velocity_scaling_factor == 0.2 and r.max_acceleration_scaling_factor == 0.2
    assert r.start_state_is_diff is True
    assert r.pipeline_id == "" and r.planner_id == ""
    (constraints,) = r.goal_constraints
    (position,) = constraints.position_constraints
    (orientation,) = constraints.orientation_constraints
    assert position.frame_id == orientation.frame_id == "base_link"
    assert position.link_name == orientation.link_name == "tool0"
    np.testing.assert_allclose(position.center, (0.5, 0.1, 0.23), atol=1e-12)
    assert position.radius_m == CFG.position_tolerance_m
    assert position.target_point_offset == (0.0, 0.0, 0.0) and position.weight == 1.0
    np.testing.assert_allclose(
        Transform(quat_xyzw=orientation.quat_xyzw).rotation_matrix(),
        TCP.rotation_matrix(),
        atol=1e-12,
    )
    tolerances = (
        orientation.absolute_x_axis_tolerance,
        orientation.absolute_y_axis_tolerance,
        orientation.absolute_z_axis_tolerance,
    )
    assert tolerances == (0.01, 0.01, 0.01)
    assert orientation.parameterization == 0
    o = goal.planning_options
    assert (o.plan_only, o.planning_scene_is_diff, o.planning_scene_robot_state_is_diff) == (
        False,
        True,
        True,
    )
    assert pose_goal(TCP, CFG, plan_only=True).planning_options.plan_only is True
    assert r.cartesian_speed_limited_link == "" and r.max_cartesian_speed == 0.0


def test_speed_scale_and_cartesian_speed_limit() -> None:
    slow = pose_goal(TCP, CFG, speed_scale=0.25).request
    assert slow.max_velocity_scaling_factor == pytest.approx(0.05)
    limited = pose_goal(TCP, MoveItConfig(max_cartesian_speed_mps=0.1)).request
    assert limited.cartesian_speed_limited_link == "tool0" and limited.max_cartesian_speed == 0.1


def test_cartesian_request_fields() -> None:
    req = cartesian_request((TCP,), CFG, speed_scale=0.5)
    assert (req.frame_id, req.group_name, req.link_name) == ("base_link", "ur_manipulator", "tool0")
    (waypoint,) = req.waypoints
    np.testing.assert_allclose(waypoint.translation, (0.5, 0.1, 0.23), atol=1e-12)
    assert req.max_step == 0.005 and req.jump_threshold == 0.0
    assert req.revolute_jump_threshold == 0.5 and req.avoid_collisions is True
    assert req.start_state_is_diff is True
    assert req.max_velocity_scaling_factor == pytest.approx(0.1)
    with pytest.raises(ValueError, match="waypoint"):
        cartesian_request((), CFG)


def test_gripper_commands() -> None:
    assert gripper_command(True, CFG).position == 0.8
    assert gripper_command(False, CFG).position == 0.0


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (1, ExecutionStatus.SUCCEEDED),
        (-1, ExecutionStatus.PLANNING_FAILED),
        (-4, ExecutionStatus.EXECUTION_FAILED),
        (-6, ExecutionStatus.EXECUTION_FAILED),
        (-7, ExecutionStatus.CANCELED),
        (-12, ExecutionStatus.PLANNING_FAILED),
        (-31, ExecutionStatus.PLANNING_FAILED),
        (-10, ExecutionStatus.PLANNING_FAILED),
        (-25, ExecutionStatus.EXECUTION_FAILED),
        (12345, ExecutionStatus.EXECUTION_FAILED),  # unknown: assume the worst
    ],
)
def test_error_code_mapping(code: int, status: ExecutionStatus) -> None:
    assert execution_status(code) is status


def test_error_code_values_and_description() -> None:
    assert (MoveItErrorCode.SUCCESS, MoveItErrorCode.PLANNING_FAILED) == (1, -1)
    assert (MoveItErrorCode.CONTROL_FAILED, MoveItErrorCode.TIMED_OUT) == (-4, -6)
    assert (MoveItErrorCode.GOAL_IN_COLLISION, MoveItErrorCode.NO_IK_SOLUTION) == (-12, -31)
    assert describe_error(-31, "no solution") == "NO_IK_SOLUTION (-31): no solution"
    assert describe_error(7) == "UNKNOWN (7)"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"position_tolerance_m": 0.0},
        {"max_velocity_scaling_factor": 1.5},
        {"cartesian_min_fraction": 0.0},
        {"num_planning_attempts": 0},
        {"tcp_offset_m": math.nan},
    ],
)
def test_config_is_validated(kwargs) -> None:
    with pytest.raises(ValueError):
        MoveItConfig(**kwargs)
