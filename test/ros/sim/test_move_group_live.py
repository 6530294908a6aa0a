"""The ``moveit`` manipulation backend against real servers: sim_move_group (move_action,
compute_cartesian_path, execute_trajectory) over sim_node's UR driver (FollowJointTrajectory,
GripperCommand). What a UR5 user's configuration runs, end to end on a live graph."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.action import ActionClient
from tf2_msgs.msg import TFMessage

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.moveit.goals import MoveItConfig
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage, Step, StepKind, StepPlan
from roborefer_ros.ros.graph import GraphClient
from roborefer_ros.ros.pick_place.moveit_backend import MoveItBackend
from roborefer_ros.ros.tf import TF_QOS

from .conftest import UrCell

pytestmark = pytest.mark.graph
moveit_msgs = pytest.importorskip("moveit_msgs.action")

DOWN = (1.0, 0.0, 0.0, 0.0)  # TCP z pointing down
TCP_OFFSET_M = 0.1558  # the simulated 2F-85 (config/sim_ur5e.yaml)


def _config(**overrides: Any) -> MoveItConfig:
    values: dict[str, Any] = {"frame": "base_link", "tcp_offset_m": TCP_OFFSET_M}
    values.update(overrides)
    return MoveItConfig(**values)


def _step(kind: StepKind, label: str, xyz: tuple[float, float, float] | None = None) -> Step:
    pose = None if xyz is None else Transform(xyz, DOWN)
    speed = 0.5 if kind is StepKind.LINEAR else 1.0
    return Step(kind, Stage.APPROACH, label, pose, speed)


class _Tool0:
    """The flange pose sim_node's driver publishes (base_link -> tool0)."""

    def __init__(self, graph: GraphClient) -> None:
        self.lock = threading.Lock()
        self.xyz: tuple[float, float, float] | None = None
        graph.node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)

    def _on_tf(self, msg: Any) -> None:
        for t in msg.transforms:
            if t.child_frame_id == "tool0":
                p = t.transform.translation
                with self.lock:
                    self.xyz = (p.x, p.y, p.z)

    def now(self) -> tuple[float, float, float]:
        with self.lock:
            assert self.xyz is not None
            return self.xyz


@pytest.fixture
def moveit(ur5e_cell: UrCell, graph: GraphClient) -> MoveItBackend:
    backend = MoveItBackend(graph.node, _config(server_timeout_s=90.0))
    ok, why = backend.available()  # the first test waits for the cell to come up
    assert ok, why + "\n" + ur5e_cell.logs()
    return backend


def test_a_pose_goal_is_planned_and_executed_then_a_straight_line(
    moveit: MoveItBackend, graph: GraphClient
) -> None:
    tool0 = _Tool0(graph)
    plan = StepPlan(
        "base_link",
        (
            _step(StepKind.OPEN, "open"),
            _step(StepKind.MOVE, "above", (0.45, -0.15, 0.30)),
            _step(StepKind.LINEAR, "down", (0.45, -0.15, 0.22)),
        ),
    )
    result = moveit.execute(plan)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    assert len(result.step_durations_s) == 3 and len(result.step_planning_s) == 3
    assert result.step_planning_s[0] == 0.0  # a gripper command plans nothing
    planned, took = result.step_planning_s[1:], result.step_durations_s[1:]
    assert all(0.0 < p < d for p, d in zip(planned, took, strict=True))
    time.sleep(0.3)
    reached = tool0.now()  # the TCP is TCP_OFFSET_M below the flange (pointing down)
    assert math.dist(reached, (0.45, -0.15, 0.22 + TCP_OFFSET_M)) < 0.005, reached


def test_a_pose_in_the_table_is_planning_failed_naming_goal_in_collision(
    moveit: MoveItBackend,
) -> None:
    plan = StepPlan("base_link", (_step(StepKind.MOVE, "into the table", (0.45, 0.2, -0.03)),))
    result = moveit.execute(plan)
    assert result.status is ExecutionStatus.PLANNING_FAILED
    assert "GOAL_IN_COLLISION" in result.message and "table" in result.message


def test_a_line_through_the_table_is_planning_failed_naming_the_fraction(
    moveit: MoveItBackend,
) -> None:
    plan = StepPlan(
        "base_link",
        (
            _step(StepKind.MOVE, "above", (0.45, 0.2, 0.2)),
            _step(StepKind.LINEAR, "through", (0.45, 0.2, -0.05)),
        ),
    )
    result = moveit.execute(plan)
    assert result.status is ExecutionStatus.PLANNING_FAILED, result.message
    assert result.failed_step == 1
    assert "Cartesian path covers" in result.message and "need 0.99" in result.message


def test_a_gripper_closing_on_nothing_is_grasp_failed(moveit: MoveItBackend) -> None:
    plan = StepPlan("base_link", (_step(StepKind.OPEN, "open"), _step(StepKind.CLOSE, "close")))
    result = moveit.execute(plan)
    assert result.status is ExecutionStatus.GRASP_FAILED
    assert result.failed_step == 1 and "without stalling" in result.message


def test_a_cancel_during_execution_stops_the_arm(moveit: MoveItBackend, graph: GraphClient) -> None:
    tool0 = _Tool0(graph)
    slow = StepPlan("base_link", (_step(StepKind.MOVE, "start", (0.45, 0.25, 0.30)),))
    assert moveit.execute(slow).status is ExecutionStatus.SUCCEEDED
    far = Step(StepKind.MOVE, Stage.APPROACH, "far", Transform((0.45, -0.25, 0.30), DOWN), 0.1)
    moving = threading.Event()
    cancel = threading.Event()

    def on_step(_index: int, _step: Step) -> None:
        moving.set()
        threading.Timer(3.0, cancel.set).start()  # planning, then a little motion

    result = moveit.execute(StepPlan("base_link", (far,)), on_step, cancel.is_set)
    assert result.status is ExecutionStatus.CANCELED, result.message
    time.sleep(0.3)  # the last flange poses of the motion arrive
    stopped = tool0.now()
    time.sleep(0.5)
    assert math.dist(tool0.now(), stopped) < 0.003  # held where it stopped
    assert -0.24 < stopped[1] < 0.25  # on the way, not at either end


def _set_sim_parameter(graph: GraphClient, name: str, value: float) -> None:
    client = graph.node.create_client(SetParameters, "/sim_node/set_parameters")
    graph.wait_for_service(client)
    request = SetParameters.Request()
    request.parameters = [
        Parameter(
            name=name,
            value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value),
        )
    ]
    response = graph.call(client, request, timeout_s=20.0, resend_s=4.0)  # idempotent
    assert response.results[0].successful, response.results[0].reason


def test_a_controller_abort_is_execution_failed_with_the_controllers_message(
    moveit: MoveItBackend, graph: GraphClient
) -> None:
    # The controller's path tolerance tightened to 1 mrad: any tracking lag aborts, as a
    # blocked or pushed arm does at the default 0.2 rad.
    _set_sim_parameter(graph, "trajectory_path_tolerance_rad", 0.001)
    try:
        plan = StepPlan(
            "base_link",
            (
                _step(StepKind.MOVE, "a", (0.40, 0.1, 0.30)),
                _step(StepKind.MOVE, "b", (0.40, -0.1, 0.3)),
            ),
        )
        result = moveit.execute(plan)
    finally:
        _set_sim_parameter(graph, "trajectory_path_tolerance_rad", 0.2)
    assert result.status is ExecutionStatus.EXECUTION_FAILED, result.message
    assert "CONTROL_FAILED" in result.message
    assert "path tolerance" in result.message  # the controller's own words


def test_move_group_not_running_is_unavailable_within_the_wait(graph: GraphClient) -> None:
    backend = MoveItBackend(
        graph.node, _config(move_action="/nobody/move_action", server_timeout_s=0.5)
    )
    started = time.monotonic()
    ok, why = backend.available()
    assert not ok and time.monotonic() - started < 3.0
    assert "/nobody/move_action" in why and "move_group" in why


def test_move_group_answers_plan_only_joint_goals_and_refuses_what_it_cannot_plan(
    moveit: MoveItBackend, graph: GraphClient
) -> None:
    from moveit_msgs.action import MoveGroup
    from moveit_msgs.msg import Constraints, JointConstraint

    from roborefer_ros.ros.spin_thread import Waited, wait_future

    client = ActionClient(graph.node, MoveGroup, "/move_action")
    assert client.wait_for_server(timeout_sec=30.0)

    def send(goal: Any) -> Any:
        sent = client.send_goal_async(goal)
        assert wait_future(sent, time.monotonic() + 10.0) is Waited.DONE
        done = sent.result().get_result_async()
        assert wait_future(done, time.monotonic() + 60.0) is Waited.DONE
        return done.result().result

    goal = MoveGroup.Goal()
    goal.request.group_name = "ur_manipulator"
    goal.request.allowed_planning_time = 5.0
    joints = ("shoulder_pan_joint", "shoulder_lift_joint", "elbow_joint")
    targets = (2.8, -1.4, 1.4)
    goal.request.goal_constraints = [
        Constraints(
            joint_constraints=[
                JointConstraint(
                    joint_name=n, position=p, tolerance_above=0.01, tolerance_below=0.01
                )
                for n, p in zip(joints, targets, strict=True)
            ]
        )
    ]
    goal.planning_options.plan_only = True
    result = send(goal)
    assert result.error_code.val == 1, result.error_code.message
    planned = result.planned_trajectory.joint_trajectory
    last = dict(zip(planned.joint_names, planned.points[-1].positions, strict=True))
    assert all(abs(last[n] - p) < 1e-6 for n, p in zip(joints, targets, strict=True))
    assert result.executed_trajectory.joint_trajectory.points == []  # plan only: nothing ran
    assert result.planning_time > 0.0

    goal.request.group_name = "left_arm"
    result = send(goal)
    assert result.error_code.val == -15  # INVALID_GROUP_NAME
    assert "left_arm" in result.error_code.message
