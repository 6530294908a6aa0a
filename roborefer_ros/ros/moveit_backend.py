"""The UR5 through MoveIt 2's ``move_group``: a ``ManipulationBackend`` over its ROS interfaces.

MOVE steps are MoveGroup action goals (plan and execute) on ``move_action``; LINEAR steps are a
``compute_cartesian_path`` call followed by an ``execute_trajectory`` goal (the path must cover
``cartesian_min_fraction`` of the line); OPEN / CLOSE are control_msgs GripperCommand goals on
``/robotiq_gripper_controller/gripper_cmd`` (0.0 open ... 0.8 closed). Goals are built by
``moveit_goals`` and copied into messages by ``moveit_fill``; every wait is a future with a
deadline that also watches for cancellation, so nothing here spins the node (it is spun by the
node's multi-threaded executor).

moveit_msgs, shape_msgs and control_msgs are not on PyPI: without them this module still imports
and the backend reports ``(False, "unavailable: moveit_msgs not installed")``. With
``use_moveit_py`` and ``moveit.planning`` importable, MOVE steps go through MoveItPy instead
(plan + execute; its ``execute`` signature differs between distros, both are tried).

Proven here (tests with duck-typed messages built from the upstream field lists): goal contents and
field names, the Humble/Jazzy rename, error-code mapping, unavailability. Only a real MoveIt proves:
planning success, the flange/TCP offset of the real gripper, controller and gripper behaviour, the
``move_group`` names of a given robot config, and the MoveItPy path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from roborefer_ros.manipulation import moveit_goals as goals
from roborefer_ros.manipulation.moveit_fill import (
    MoveItTypes,
    fill_cartesian_request,
    fill_execute_goal,
    fill_gripper_goal,
    fill_move_group_goal,
    fill_pose,
)
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    Step,
    StepCallback,
    StepKind,
    StepPlan,
)

UNAVAILABLE_MSGS = "unavailable: moveit_msgs not installed"


def load_moveit_types() -> MoveItTypes | str:
    """The real message classes, or why they cannot be loaded."""
    try:
        from geometry_msgs.msg import Pose
        from moveit_msgs.action import ExecuteTrajectory, MoveGroup
        from moveit_msgs.msg import Constraints, OrientationConstraint, PositionConstraint
        from moveit_msgs.srv import GetCartesianPath
        from shape_msgs.msg import SolidPrimitive
    except ImportError:
        return UNAVAILABLE_MSGS
    try:
        from control_msgs.action import GripperCommand
    except ImportError:
        return "unavailable: control_msgs not installed (Robotiq GripperCommand)"
    return MoveItTypes(
        MoveGroupGoal=MoveGroup.Goal,
        Constraints=Constraints,
        PositionConstraint=PositionConstraint,
        OrientationConstraint=OrientationConstraint,
        SolidPrimitive=SolidPrimitive,
        Pose=Pose,
        GetCartesianPathRequest=GetCartesianPath.Request,
        ExecuteTrajectoryGoal=ExecuteTrajectory.Goal,
        GripperCommandGoal=GripperCommand.Goal,
    )


class _StepError(Exception):
    def __init__(self, status: ExecutionStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error_of(result: Any) -> tuple[int, str]:
    code = result.error_code
    # Jazzy added message/source (an intermediate version named them error_message/...).
    message = getattr(code, "message", "") or getattr(code, "error_message", "")
    return int(code.val), str(message)


class MoveItBackend:
    """``ManipulationBackend`` over move_group's action and service interfaces."""

    name = "moveit"

    def __init__(
        self,
        node: Any,
        cfg: goals.MoveItConfig,
        *,
        callback_group: Any = None,
    ) -> None:
        self.cfg = cfg
        self._node = node
        self._server_timeout_s = cfg.server_timeout_s
        self._step_timeout_s = cfg.step_timeout_s
        self._types = load_moveit_types()
        self._moveit_py: Any = None
        if isinstance(self._types, str):
            return
        from control_msgs.action import GripperCommand
        from moveit_msgs.action import ExecuteTrajectory, MoveGroup
        from moveit_msgs.srv import GetCartesianPath
        from rclpy.action.client import ActionClient

        group = callback_group
        move_action, execute_action = cfg.move_action, cfg.execute_action
        gripper_action, cartesian_service = cfg.gripper_action, cfg.cartesian_service
        self._move: Any = ActionClient(node, MoveGroup, move_action, callback_group=group)
        self._execute: Any = ActionClient(
            node, ExecuteTrajectory, execute_action, callback_group=group
        )
        self._gripper: Any = ActionClient(
            node, GripperCommand, gripper_action, callback_group=group
        )
        self._action_clients = (
            (node.resolve_topic_name(move_action), self._move),
            (node.resolve_topic_name(execute_action), self._execute),
            (node.resolve_topic_name(gripper_action), self._gripper),
        )
        self._cartesian = node.create_client(
            GetCartesianPath, cartesian_service, callback_group=group
        )
        if cfg.use_moveit_py:
            try:
                from moveit.planning import MoveItPy

                self._moveit_py = MoveItPy(node_name=f"{node.get_name()}_moveit_py")
            except ImportError:
                node.get_logger().warning(
                    "use_moveit_py: moveit.planning not importable; move_group"
                )

    # ----- ManipulationBackend ---------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        if isinstance(self._types, str):
            return False, self._types
        timeout = self._server_timeout_s
        for name, client in self._action_clients:
            if not client.wait_for_server(timeout_sec=timeout):
                return False, f"unavailable: action {name} not served (is move_group running?)"
        if not self._cartesian.wait_for_service(timeout_sec=timeout):
            return False, f"unavailable: service {self._cartesian.srv_name} not served"
        return True, ""

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        if isinstance(self._types, str):
            return ExecutionResult(ExecutionStatus.UNAVAILABLE, self._types)
        if plan.frame != self.cfg.frame:
            return ExecutionResult(
                ExecutionStatus.REJECTED,
                f"plan frame '{plan.frame}' is not MoveIt's planning frame '{self.cfg.frame}'",
            )
        is_cancelled = cancelled or (lambda: False)
        durations: list[float] = []
        for index, step in enumerate(plan.steps):
            if is_cancelled():
                return ExecutionResult(
                    ExecutionStatus.CANCELED, "cancelled", index, tuple(durations)
                )
            if on_step is not None:
                on_step(index, step)
            started = time.monotonic()
            try:
                self._run(step, self._types, is_cancelled)
            except _StepError as err:
                durations.append(time.monotonic() - started)
                return ExecutionResult(err.status, err.message, index, tuple(durations))
            durations.append(time.monotonic() - started)
        return ExecutionResult(ExecutionStatus.SUCCEEDED, "", None, tuple(durations))

    # ----- steps -----------------------------------------------------------------------------
    def _run(self, step: Step, t: MoveItTypes, cancelled: Callable[[], bool]) -> None:
        if step.kind in (StepKind.OPEN, StepKind.CLOSE):
            self._grip(step.kind is StepKind.CLOSE, t, cancelled)
            return
        if step.tcp_pose is None:
            raise _StepError(ExecutionStatus.PLANNING_FAILED, f"{step.label}: no pose")
        if step.kind is StepKind.MOVE:
            if self._moveit_py is not None:
                self._move_moveit_py(step)
                return
            goal = fill_move_group_goal(
                goals.pose_goal(step.tcp_pose, self.cfg, speed_scale=step.speed_scale), t
            )
            result = self._send(self._move, goal, cancelled, "move_action")
            self._check(result, step.label)
            return
        request = fill_cartesian_request(
            goals.cartesian_request((step.tcp_pose,), self.cfg, step.speed_scale), t
        )
        response = self._wait(self._cartesian.call_async(request), cancelled, "cartesian path")
        self._check(response, step.label)
        if response.fraction < self.cfg.cartesian_min_fraction:
            raise _StepError(
                ExecutionStatus.PLANNING_FAILED,
                f"{step.label}: Cartesian path covers {response.fraction:.2f} of the line "
                f"(need {self.cfg.cartesian_min_fraction:.2f})",
            )
        result = self._send(
            self._execute, fill_execute_goal(response.solution, t), cancelled, "execute"
        )
        self._check(result, step.label)

    def _grip(self, close: bool, t: MoveItTypes, cancelled: Callable[[], bool]) -> None:
        goal = fill_gripper_goal(goals.gripper_command(close, self.cfg), t)
        result = self._send(self._gripper, goal, cancelled, "gripper")
        if (
            close
            and not result.stalled
            and result.position >= self.cfg.gripper_closed_position - 0.02
        ):
            # Heuristic: fully closed without stalling = nothing between the fingers.
            raise _StepError(
                ExecutionStatus.GRASP_FAILED,
                f"gripper closed to {result.position:.3f} without stalling: nothing grasped",
            )

    def _check(self, result: Any, label: str) -> None:
        code, message = _error_of(result)
        status = goals.execution_status(code)
        if status is not ExecutionStatus.SUCCEEDED:
            raise _StepError(status, f"{label}: {goals.describe_error(code, message)}")

    def _move_moveit_py(self, step: Step) -> None:
        from geometry_msgs.msg import PoseStamped

        assert step.tcp_pose is not None
        target = PoseStamped()
        target.header.frame_id = self.cfg.frame
        fill_pose(target.pose, goals.tool0_pose(step.tcp_pose, self.cfg.T_tool0_from_tcp))
        component = self._moveit_py.get_planning_component(self.cfg.group_name)
        component.set_start_state_to_current_state()
        component.set_goal_state(pose_stamped_msg=target, pose_link=self.cfg.link_name)
        planned = component.plan()
        if not planned:
            raise _StepError(ExecutionStatus.PLANNING_FAILED, f"{step.label}: MoveItPy plan")
        try:  # Humble/Iron: execute(trajectory, ...); Jazzy: execute(group, trajectory, ...)
            self._moveit_py.execute(planned.trajectory, controllers=[])
        except TypeError:
            self._moveit_py.execute(self.cfg.group_name, planned.trajectory, controllers=[])

    # ----- waiting without spinning ----------------------------------------------------------
    def _wait(self, future: Any, cancelled: Callable[[], bool], what: str) -> Any:
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        deadline = time.monotonic() + self._step_timeout_s
        while not done.wait(0.05):
            if cancelled():
                future.cancel()
                raise _StepError(ExecutionStatus.CANCELED, f"cancelled while waiting for {what}")
            if time.monotonic() > deadline:
                future.cancel()
                raise _StepError(
                    ExecutionStatus.EXECUTION_FAILED,
                    f"{what}: no answer within {self._step_timeout_s:g} s",
                )
        result = future.result()
        if result is None:
            raise _StepError(ExecutionStatus.EXECUTION_FAILED, f"{what}: no result")
        return result

    def _send(self, client: Any, goal: Any, cancelled: Callable[[], bool], what: str) -> Any:
        handle = self._wait(client.send_goal_async(goal), cancelled, f"{what} goal acceptance")
        if not handle.accepted:
            raise _StepError(ExecutionStatus.EXECUTION_FAILED, f"{what}: goal rejected")
        try:
            wrapped = self._wait(handle.get_result_async(), cancelled, f"{what} result")
        except _StepError:
            handle.cancel_goal_async()  # stop the arm, do not wait for the answer
            raise
        return wrapped.result
