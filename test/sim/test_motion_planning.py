"""The simulated move_group's planning core on the UR5e cell's model (no ROS): IK with MoveIt's
error codes, RRTConnect + TOPP-RA plans within the scaled limits, alternatives and workspace,
Cartesian paths that report the fraction they achieved."""

from __future__ import annotations

import math

import numpy as np
import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.moveit.goals import MoveItErrorCode
from roborefer_ros.sim.motion_planning import (
    CellPlanner,
    JointGoal,
    MotionRequest,
    PlanningError,
    PoseGoal,
    Scaling,
    Workspace,
)

pytest.importorskip("mujoco")
pytest.importorskip("ompl")
pytest.importorskip("toppra")

DOWN = (1.0, 0.0, 0.0, 0.0)  # tool0 z pointing down
TCP_M = 0.1558  # tool0 to the 2F-85's pinch point
READY = np.array([math.pi, -1.57, 1.57, -1.57, -1.57, 0.0])


@pytest.fixture(scope="module")
def planner() -> CellPlanner:
    return CellPlanner(seed=0)


def _pose_goal(x: float, y: float, tcp_z: float, tol_m: float = 0.002) -> PoseGoal:
    return PoseGoal(Transform((x, y, tcp_z + TCP_M), DOWN), tol_m, (0.01, 0.01, 0.01))


def test_ik_reaches_a_pose_above_the_table_within_its_tolerance(planner: CellPlanner) -> None:
    goal = _pose_goal(0.45, -0.15, 0.25)
    q = planner.goal_joints(goal, READY)
    reached = planner.tool0(q)
    assert math.dist(reached.translation, goal.pose.translation) <= 0.002 + 1e-6
    assert not planner.in_collision(q)


def test_out_of_reach_is_no_ik_solution(planner: CellPlanner) -> None:
    with pytest.raises(PlanningError) as err:
        planner.goal_joints(_pose_goal(1.6, 0.0, 0.3), READY, attempts=2)
    assert err.value.code is MoveItErrorCode.NO_IK_SOLUTION
    assert "best position residual" in err.value.message


def test_a_pose_in_the_table_is_goal_in_collision_naming_the_contact(planner: CellPlanner) -> None:
    with pytest.raises(PlanningError) as err:
        planner.goal_joints(_pose_goal(0.45, 0.2, -0.03), READY)
    assert err.value.code is MoveItErrorCode.GOAL_IN_COLLISION
    assert "table" in err.value.message


def test_a_plan_starts_and_ends_at_rest_within_the_scaled_limits(planner: CellPlanner) -> None:
    goal = planner.goal_joints(_pose_goal(0.40, 0.20, 0.30), READY)
    trajectory = planner.plan(READY, goal, planning_time_s=5.0, scaling=Scaling(0.2, 0.2))
    q = np.asarray(trajectory.positions)
    qd = np.asarray(trajectory.velocities)
    assert np.allclose(q[0], READY) and np.allclose(q[-1], goal)
    assert np.allclose(qd[0], 0.0) and np.allclose(qd[-1], 0.0)
    assert float(np.max(np.abs(qd))) <= 3.14 * 0.2 * 1.02  # TOPP-RA under the scaled limit
    assert np.all(np.diff(trajectory.times_s) > 0)
    faster = planner.plan(READY, goal, planning_time_s=5.0, scaling=Scaling(1.0, 1.0))
    assert faster.duration_s < trajectory.duration_s


def test_a_start_in_collision_is_refused(planner: CellPlanner) -> None:
    in_table = planner.goal_joints(_pose_goal(0.45, 0.2, 0.1), READY).copy()
    in_table[1] += 0.6  # the shoulder lowered: the arm goes through the table
    assert planner.in_collision(in_table)
    with pytest.raises(PlanningError) as err:
        planner.plan(in_table, READY, planning_time_s=1.0)
    assert err.value.code is MoveItErrorCode.START_STATE_IN_COLLISION


def test_a_request_takes_the_first_goal_it_can_plan_and_honours_the_workspace(
    planner: CellPlanner,
) -> None:
    unreachable, reachable = _pose_goal(1.6, 0.0, 0.3), _pose_goal(0.45, 0.1, 0.3)
    request = MotionRequest(goals=(unreachable, reachable), planning_time_s=5.0)
    trajectory = planner.plan_request(READY, request)
    end = planner.tool0(trajectory.positions[-1])
    assert math.dist(end.translation, reachable.pose.translation) < 0.003

    boxed = MotionRequest(
        goals=(reachable,), workspace=Workspace((-1.0, -1.0, 0.5), (1.0, 1.0, 1.0))
    )
    with pytest.raises(PlanningError) as err:
        planner.plan_request(READY, boxed)
    assert err.value.code is MoveItErrorCode.INVALID_GOAL_CONSTRAINTS
    assert "workspace" in err.value.message

    with pytest.raises(PlanningError) as err:
        planner.plan_request(READY, MotionRequest(goals=()))
    assert err.value.code is MoveItErrorCode.INVALID_GOAL_CONSTRAINTS


def test_joint_goals_are_checked_against_limits_and_collisions(planner: CellPlanner) -> None:
    beyond = JointGoal((10.0, -1.57, 1.57, -1.57, -1.57, 0.0), (0.01,) * 6)
    with pytest.raises(PlanningError) as err:
        planner.plan_request(READY, MotionRequest(goals=(beyond,)))
    assert err.value.code is MoveItErrorCode.INVALID_GOAL_CONSTRAINTS
    target = (3.0, -1.4, 1.4, -1.57, -1.57, 0.2)
    trajectory = planner.plan_request(READY, MotionRequest(goals=(JointGoal(target, (0.01,) * 6),)))
    assert np.allclose(trajectory.positions[-1], target)


def test_a_cartesian_path_reports_the_fraction_it_achieved(planner: CellPlanner) -> None:
    start = planner.goal_joints(_pose_goal(0.45, 0.2, 0.20), READY)
    above = Transform((0.45, 0.2, 0.10 + TCP_M), DOWN)
    free = planner.cartesian_path(start, [above], max_step_m=0.005)
    assert free.fraction == pytest.approx(1.0) and free.stopped_because == ""
    assert (
        math.dist(planner.tool0(free.trajectory.positions[-1]).translation, above.translation)
        < 2e-3
    )

    through = Transform((0.45, 0.2, -0.05 + TCP_M), DOWN)
    blocked = planner.cartesian_path(start, [through], max_step_m=0.005)
    assert 0.3 < blocked.fraction < 1.0
    assert "collision" in blocked.stopped_because and "table" in blocked.stopped_because
    unchecked = planner.cartesian_path(start, [through], max_step_m=0.005, avoid_collisions=False)
    assert unchecked.fraction == pytest.approx(1.0)

    with pytest.raises(PlanningError) as err:
        planner.cartesian_path(start, [above], max_step_m=0.0)
    assert err.value.code is MoveItErrorCode.FAILURE
