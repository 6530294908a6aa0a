"""Reading moveit_msgs requests into the simulated move_group's plain types (real message
classes): constraints of every kind with their tolerances, the start state, the workspace, and the
error code of everything it refuses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.moveit.goals import MoveItErrorCode
from roborefer_ros.sim.motion_planning import JointGoal, PlanningError, PoseGoal, Trajectory

msg = pytest.importorskip("moveit_msgs.msg")
from geometry_msgs.msg import Pose  # noqa: E402
from moveit_msgs.action import MoveGroup  # noqa: E402
from shape_msgs.msg import SolidPrimitive  # noqa: E402

from roborefer_ros.ros.sim.move_group.messages import (  # noqa: E402
    CellModel,
    goal_of,
    motion_request_of,
    robot_trajectory_msg,
    start_of,
    workspace_of,
)

JOINTS = ("j1", "j2", "j3")
CELL = CellModel("base_link", "arm", "tool0", JOINTS)
CURRENT = np.array([0.1, 0.2, 0.3])
TIP = Transform((0.4, 0.0, 0.5), (0.0, 0.0, 0.0, 1.0))


def _position(
    center: tuple[float, float, float], radius: float = 0.01, frame: str = "base_link"
) -> object:
    c = msg.PositionConstraint()
    c.header.frame_id, c.link_name = frame, "tool0"
    sphere = SolidPrimitive(type=SolidPrimitive.SPHERE, dimensions=[radius])
    c.constraint_region.primitives = [sphere]
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = center
    pose.orientation.w = 1.0
    c.constraint_region.primitive_poses = [pose]
    return c


def _orientation(
    q: tuple[float, float, float, float], tol: float = 0.05, link: str = "tool0"
) -> object:
    c = msg.OrientationConstraint()
    c.header.frame_id, c.link_name = "base_link", link
    c.orientation.x, c.orientation.y, c.orientation.z, c.orientation.w = q
    c.absolute_x_axis_tolerance = c.absolute_y_axis_tolerance = tol
    c.absolute_z_axis_tolerance = 2 * tol
    return c


def test_a_position_and_an_orientation_make_a_pose_goal_with_their_tolerances() -> None:
    goal = goal_of(
        msg.Constraints(
            position_constraints=[_position((0.5, 0.1, 0.3), 0.004)],
            orientation_constraints=[_orientation((1.0, 0.0, 0.0, 0.0))],
        ),
        CELL,
        CURRENT,
        TIP,
    )
    assert isinstance(goal, PoseGoal)
    assert goal.pose.translation == pytest.approx((0.5, 0.1, 0.3))
    assert goal.pose.quat_xyzw == pytest.approx((1.0, 0.0, 0.0, 0.0))
    assert goal.position_tol_m == pytest.approx(0.004)
    assert goal.axis_tol_rad == pytest.approx((0.05, 0.05, 0.1))


def test_a_box_region_counts_by_its_smallest_half_side_and_an_offset_moves_the_link() -> None:
    c = _position((0.5, 0.0, 0.3))
    c.constraint_region.primitives = [
        SolidPrimitive(type=SolidPrimitive.BOX, dimensions=[0.02, 0.04, 0.06])
    ]
    c.target_point_offset.z = 0.1  # a point 10 cm along the link's z must reach the centre
    down = _orientation((1.0, 0.0, 0.0, 0.0))  # link z points down
    goal = goal_of(
        msg.Constraints(position_constraints=[c], orientation_constraints=[down]),
        CELL,
        CURRENT,
        TIP,
    )
    assert isinstance(goal, PoseGoal)
    assert goal.position_tol_m == pytest.approx(0.01)
    assert goal.pose.translation == pytest.approx((0.5, 0.0, 0.4))  # the link 10 cm above


def test_a_missing_part_comes_from_the_current_state_without_a_tolerance_on_it() -> None:
    position_only = goal_of(
        msg.Constraints(position_constraints=[_position((0.5, 0.1, 0.3))]), CELL, CURRENT, TIP
    )
    assert isinstance(position_only, PoseGoal)
    assert position_only.axis_tol_rad == (math.pi,) * 3
    orientation_only = goal_of(
        msg.Constraints(orientation_constraints=[_orientation((0.0, 0.0, 0.0, 1.0))]),
        CELL,
        CURRENT,
        TIP,
    )
    assert isinstance(orientation_only, PoseGoal)
    assert orientation_only.pose.translation == TIP.translation
    assert orientation_only.position_tol_m >= 1.0


def test_joint_constraints_make_a_joint_goal_the_rest_held_where_it_is() -> None:
    goal = goal_of(
        msg.Constraints(
            joint_constraints=[
                msg.JointConstraint(
                    joint_name="j2", position=1.0, tolerance_above=0.02, tolerance_below=0.01
                )
            ]
        ),
        CELL,
        CURRENT,
        TIP,
    )
    assert isinstance(goal, JointGoal)
    assert goal.positions == pytest.approx((0.1, 1.0, 0.3))
    assert goal.tolerance_rad[1] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("constraints", "code"),
    [
        (msg.Constraints(), MoveItErrorCode.INVALID_GOAL_CONSTRAINTS),
        (
            msg.Constraints(position_constraints=[_position((0.5, 0, 0.3), frame="map")]),
            MoveItErrorCode.FRAME_TRANSFORM_FAILURE,
        ),
        (
            msg.Constraints(orientation_constraints=[_orientation((0, 0, 0, 1), link="wrist")]),
            MoveItErrorCode.INVALID_LINK_NAME,
        ),
        (
            msg.Constraints(orientation_constraints=[_orientation((0, 0, 0, 0))]),
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
        ),
        (
            msg.Constraints(joint_constraints=[msg.JointConstraint(joint_name="elbow")]),
            MoveItErrorCode.INVALID_GOAL_CONSTRAINTS,
        ),
    ],
    ids=["empty", "other frame", "other link", "zero quaternion", "unknown joint"],
)
def test_what_it_cannot_take_is_refused_with_moveits_code(
    constraints: object, code: MoveItErrorCode
) -> None:
    with pytest.raises(PlanningError) as err:
        goal_of(constraints, CELL, CURRENT, TIP)
    assert err.value.code is code


def test_the_request_names_group_time_attempts_scaling_and_workspace() -> None:
    request = MoveGroup.Goal().request
    request.group_name = "arm"
    request.goal_constraints = [msg.Constraints(position_constraints=[_position((0.5, 0, 0.3))])]
    request.num_planning_attempts = 0
    request.max_velocity_scaling_factor = 0.3
    request.max_acceleration_scaling_factor = 0.0  # outside (0, 1]: 1, as MoveIt reads it
    motion = motion_request_of(request, CELL, CURRENT, TIP, default_planning_time_s=7.0)
    assert motion.planning_time_s == 7.0 and motion.attempts == 1
    assert (motion.scaling.velocity, motion.scaling.acceleration) == (0.3, 1.0)
    assert motion.workspace is None
    request.workspace_parameters.min_corner.x = -1.0
    request.workspace_parameters.max_corner.x = 1.0
    request.workspace_parameters.max_corner.z = 1.0
    motion = motion_request_of(request, CELL, CURRENT, TIP, default_planning_time_s=7.0)
    assert motion.workspace is not None and motion.workspace.contains((0.5, 0.0, 0.3))
    request.group_name = "left_arm"
    with pytest.raises(PlanningError) as err:
        motion_request_of(request, CELL, CURRENT, TIP, default_planning_time_s=7.0)
    assert err.value.code is MoveItErrorCode.INVALID_GROUP_NAME


def test_the_start_state_is_the_current_one_with_what_the_request_names() -> None:
    empty = msg.RobotState(is_diff=True)
    assert np.allclose(start_of(empty, CELL, CURRENT), CURRENT)
    diff = msg.RobotState(is_diff=True)
    diff.joint_state.name, diff.joint_state.position = ["j3"], [1.5]
    assert np.allclose(start_of(diff, CELL, CURRENT), (0.1, 0.2, 1.5))
    partial = msg.RobotState(is_diff=False)
    partial.joint_state.name, partial.joint_state.position = ["j3"], [1.5]
    with pytest.raises(PlanningError) as err:
        start_of(partial, CELL, CURRENT)
    assert err.value.code is MoveItErrorCode.INVALID_ROBOT_STATE
    box = msg.WorkspaceParameters()
    box.min_corner.x, box.max_corner.x = 1.0, 0.0
    with pytest.raises(PlanningError):
        workspace_of(box, CELL)


def test_a_planned_trajectory_becomes_a_robot_trajectory() -> None:
    planned = Trajectory(
        JOINTS, (0.0, 0.5, 1.25), ((0, 0, 0), (1, 1, 1), (2, 2, 2)), ((0,) * 3,) * 3
    )
    out = robot_trajectory_msg(planned, "base_link", msg.RobotTrajectory)
    jt = out.joint_trajectory
    assert jt.header.frame_id == "base_link" and list(jt.joint_names) == list(JOINTS)
    assert [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in jt.points] == [
        pytest.approx(t) for t in (0.0, 0.5, 1.25)
    ]
    assert list(jt.points[2].positions) == [2.0, 2.0, 2.0]
