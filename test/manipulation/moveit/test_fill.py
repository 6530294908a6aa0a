"""The message fillers against doubles built from the exact upstream field lists.

A misspelt field name, a wrong type (an int where float64 is declared) or a field that only one
distro has fails here as it would on a robot. Not proven here: that move_group accepts the goal
and plans it (that needs a real MoveIt; see roborefer_ros.ros.pick_place.moveit_backend).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.grasp_planner import top_down_quat
from roborefer_ros.manipulation.moveit import goals as goals
from roborefer_ros.manipulation.moveit.fill import (
    MoveItTypes,
    fill_cartesian_request,
    fill_execute_goal,
    fill_gripper_goal,
    fill_move_group_goal,
    fill_pose,
    speed_link_field,
)
from test.manipulation import upstream_msgs

TCP = Transform((0.5, 0.1, 0.07), top_down_quat(0.4))
CFG = goals.MoveItConfig(max_cartesian_speed_mps=0.2)


def types(registry: dict[str, type]) -> MoveItTypes:
    return MoveItTypes(
        MoveGroupGoal=registry["moveit_msgs/MoveGroup_Goal"],
        Constraints=registry["moveit_msgs/Constraints"],
        PositionConstraint=registry["moveit_msgs/PositionConstraint"],
        OrientationConstraint=registry["moveit_msgs/OrientationConstraint"],
        SolidPrimitive=registry["shape_msgs/SolidPrimitive"],
        Pose=registry["geometry_msgs/Pose"],
        GetCartesianPathRequest=registry["moveit_msgs/GetCartesianPath_Request"],
        ExecuteTrajectoryGoal=registry["moveit_msgs/ExecuteTrajectory_Goal"],
        GripperCommandGoal=registry["control_msgs/GripperCommand_Goal"],
    )


JAZZY = types(upstream_msgs.build())
HUMBLE = types(
    upstream_msgs.build(
        {
            "moveit_msgs/MotionPlanRequest": upstream_msgs.HUMBLE_MOTION_PLAN_REQUEST,
            "moveit_msgs/GetCartesianPath_Request": upstream_msgs.MINIMAL_CARTESIAN_REQUEST,
        }
    )
)


def xyz(msg: Any) -> tuple[float, float, float]:
    return (msg.x, msg.y, msg.z)


@pytest.mark.parametrize("t", [JAZZY, HUMBLE], ids=["jazzy", "humble"])
def test_move_group_goal(t: MoveItTypes) -> None:
    spec = goals.pose_goal(TCP, CFG)
    goal = fill_move_group_goal(spec, t)
    req = goal.request
    assert req.group_name == "ur_manipulator"
    assert req.start_state.is_diff is True
    assert (req.num_planning_attempts, req.allowed_planning_time) == (5, 5.0)
    assert req.max_velocity_scaling_factor == 0.2
    (constraints,) = req.goal_constraints
    (pc,) = constraints.position_constraints
    (oc,) = constraints.orientation_constraints
    assert pc.header.frame_id == "base_link" and pc.link_name == "tool0"
    (sphere,) = pc.constraint_region.primitives
    assert sphere.type == 2 and sphere.dimensions == [CFG.position_tolerance_m]
    (center,) = pc.constraint_region.primitive_poses
    assert xyz(center.position) == pytest.approx((0.5, 0.1, 0.23))
    assert (center.orientation.w, pc.weight) == (1.0, 1.0)
    q = oc.orientation
    assert (q.x, q.y, q.z, q.w) == pytest.approx(
        spec.request.goal_constraints[0].orientation_constraints[0].quat_xyzw
    )
    assert oc.header.frame_id == "base_link" and oc.link_name == "tool0"
    assert oc.absolute_x_axis_tolerance == oc.absolute_z_axis_tolerance == 0.01
    assert oc.parameterization == type(oc).XYZ_EULER_ANGLES
    opts = goal.planning_options
    assert opts.planning_scene_diff.is_diff is True
    assert opts.planning_scene_diff.robot_state.is_diff is True
    assert opts.plan_only is False


def test_the_speed_link_field_follows_the_message_version() -> None:
    jazzy = fill_move_group_goal(goals.pose_goal(TCP, CFG), JAZZY).request
    humble = fill_move_group_goal(goals.pose_goal(TCP, CFG), HUMBLE).request
    assert speed_link_field(jazzy) == "cartesian_speed_limited_link"
    assert speed_link_field(humble) == "cartesian_speed_end_effector_link"
    assert jazzy.cartesian_speed_limited_link == "tool0"
    assert humble.cartesian_speed_end_effector_link == "tool0"
    assert jazzy.max_cartesian_speed == humble.max_cartesian_speed == 0.2


def test_cartesian_request_jazzy_sets_every_field() -> None:
    req = fill_cartesian_request(goals.cartesian_request((TCP,), CFG, 0.5), JAZZY)
    assert req.header.frame_id == "base_link"
    assert (req.group_name, req.link_name) == ("ur_manipulator", "tool0")
    (waypoint,) = req.waypoints
    assert xyz(waypoint.position) == pytest.approx((0.5, 0.1, 0.23))
    assert req.start_state.is_diff is True and req.avoid_collisions is True
    assert (req.max_step, req.jump_threshold, req.revolute_jump_threshold) == (0.005, 0.0, 0.5)
    assert req.max_velocity_scaling_factor == pytest.approx(0.1)
    assert req.cartesian_speed_limited_link == "tool0" and req.max_cartesian_speed == 0.2


def test_cartesian_request_older_message_skips_newer_fields() -> None:
    req = fill_cartesian_request(goals.cartesian_request((TCP,), CFG), HUMBLE)
    assert set(type(req).get_fields_and_field_types()) == {
        "header", "start_state", "group_name", "link_name", "waypoints", "max_step",
        "jump_threshold", "avoid_collisions", "path_constraints",
    }  # fmt: skip
    assert req.max_step == 0.005 and len(req.waypoints) == 1


def test_gripper_and_execute_goals() -> None:
    goal = fill_gripper_goal(goals.gripper_command(True, CFG), JAZZY)
    assert (goal.command.position, goal.command.max_effort) == (0.8, 50.0)
    trajectory = object()  # opaque RobotTrajectory from the Cartesian response
    assert fill_execute_goal(trajectory, JAZZY).trajectory is trajectory


def test_the_doubles_catch_typos_and_wrong_types() -> None:
    """Guard the doubles themselves: they must fail like rclpy messages do."""
    constraint = JAZZY.PositionConstraint()
    with pytest.raises(AttributeError, match="link_nme"):
        constraint.link_nme = "tool0"
    with pytest.raises(AssertionError, match="float64 wants float"):
        constraint.weight = 1
    sphere = JAZZY.SolidPrimitive()
    with pytest.raises(AssertionError, match="more than 3"):
        sphere.dimensions = [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(AttributeError, match="cartesian_speed_limited_link"):
        HUMBLE.MoveGroupGoal().request.cartesian_speed_limited_link = "tool0"


def test_a_misspelt_field_in_a_message_fails_the_filler() -> None:
    """If upstream renamed a field we write, the filler would fail: simulate it."""
    renamed = upstream_msgs.DEFINITIONS["moveit_msgs/OrientationConstraint"].replace(
        "absolute_y_axis_tolerance", "absolute_y_axis_tol"
    )
    t = types(upstream_msgs.build({"moveit_msgs/OrientationConstraint": renamed}))
    with pytest.raises(AttributeError, match="absolute_y_axis_tolerance"):
        fill_move_group_goal(goals.pose_goal(TCP, CFG), t)


def test_fill_pose_works_on_the_real_geometry_msgs_pose() -> None:
    from geometry_msgs.msg import Pose

    msg = fill_pose(Pose(), replace(TCP))
    assert (msg.position.x, msg.position.z, msg.orientation.x) == pytest.approx(
        (0.5, 0.07, TCP.quat_xyzw[0])
    )
