"""The UR5 through MoveIt 2's ``move_group``: a ``ManipulationBackend`` over its ROS interfaces.

MOVE steps are MoveGroup action goals (plan and execute) on ``move_action``; LINEAR steps are a
``compute_cartesian_path`` call followed by an ``execute_trajectory`` goal (the path must cover
``cartesian_min_fraction`` of the line); OPEN / CLOSE are control_msgs GripperCommand goals on
``/robotiq_gripper_controller/gripper_cmd`` (0.0 open ... 0.8 closed). Goals are built by
``manipulation.moveit.goals`` and copied into messages by ``manipulation.moveit.fill``; every wait
is a future with a deadline that also watches for cancellation, so nothing here spins the node (it
is spun by the node's multi-threaded executor).

moveit_msgs and control_msgs are not on PyPI: the pip set-up builds stand-ins (upstream's field
lines, type hashes checked); without any, this module still imports and the backend reports
``(False, "unavailable: moveit_msgs not installed")``. With ``use_moveit_py`` and
``moveit.planning`` importable, MOVE steps go through MoveItPy instead (plan + execute; its
``execute`` signature differs between distros, both are tried).

Proven here: goal contents and field names, the Humble/Jazzy rename and error-code mapping (tests
with message objects), and the whole path against real servers on a live graph: the simulated
UR5e cell's move_group (sim_move_group: IK, OMPL's RRTConnect, TOPP-RA, MoveIt's error codes
and execution monitoring) over its ur_robot_driver and Robotiq interfaces (50 seeded pick and
place episodes, docs/simulation.md). Only a real cell proves: MoveIt's own planners and planning
scene, the real gripper's TCP offset, the real controllers, and the MoveItPy path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from roborefer_ros.manipulation.backend_context import BackendContext
from roborefer_ros.manipulation.moveit import goals as goals
from roborefer_ros.manipulation.moveit.fill import (
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
from roborefer_ros.ros.params import ParameterSpec, declare_parameters
from roborefer_ros.ros.spin_thread import Waited, wait_future

UNAVAILABLE_MSGS = "unavailable: moveit_msgs not installed"

P = ParameterSpec
#: Declared on pick_place_node when ``manipulation_backend`` is ``moveit``.
MOVEIT_PARAMETERS: tuple[ParameterSpec, ...] = (
    P("moveit_group", "ur_manipulator", "moveit: planning group."),
    P("moveit_link", "tool0", "moveit: link the goals are for (the group's tip)."),
    P("tcp_offset_m", 0.16, "moveit: TCP distance along the link's z.", range=(-1.0, 1.0)),
    P("position_tolerance_m", 0.002, "moveit: goal sphere radius.", range=(1e-5, 0.1)),
    P("orientation_tolerance_rad", 0.01, "moveit: goal axis tolerances.", range=(1e-4, 3.2)),
    P("planning_time_s", 5.0, "moveit: allowed_planning_time.", range=(0.01, 600.0)),
    P("planning_attempts", 5, "moveit: num_planning_attempts.", range=(1, 1000)),
    P("velocity_scaling", 0.2, "moveit: max_velocity_scaling_factor.", range=(0.001, 1.0)),
    P("acceleration_scaling", 0.2, "moveit: max_acceleration_scaling_factor.", range=(0.001, 1.0)),
    P("pipeline_id", "", "moveit: planning pipeline; empty = move_group's default."),
    P("planner_id", "", "moveit: planner; empty = the pipeline's default."),
    P("cartesian_max_step_m", 0.005, "moveit: Cartesian path resolution.", range=(1e-4, 0.1)),
    P(
        "cartesian_min_fraction",
        0.99,
        "moveit: share of a line that must be feasible.",
        range=(0.01, 1.0),
    ),
    P("move_action", "move_action", "moveit: MoveGroup action."),
    P("execute_action", "execute_trajectory", "moveit: ExecuteTrajectory action."),
    P("cartesian_service", "compute_cartesian_path", "moveit: GetCartesianPath service."),
    P("gripper_action", "/robotiq_gripper_controller/gripper_cmd", "GripperCommand action."),
    P("gripper_open_position", 0.0, "Robotiq position when open.", range=(0.0, 1.0)),
    P("gripper_closed_position", 0.8, "Robotiq position when closed.", range=(0.0, 1.0)),
    P("gripper_max_effort", 50.0, "GripperCommand max_effort.", range=(0.0, 1000.0)),
    P("server_timeout_s", 2.0, "moveit: wait for each server before a goal.", range=(0.0, 60.0)),
    P("step_timeout_s", 60.0, "moveit: deadline of one step.", range=(0.1, 3600.0)),
    P("use_moveit_py", False, "moveit: MOVE steps through MoveItPy when importable."),
)


def read_moveit_config(values: dict[str, Any], plan_frame: str) -> goals.MoveItConfig:
    """The MoveIt settings from parameter values (ValueError names a bad one)."""
    return goals.MoveItConfig(
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


def make_moveit_backend(context: BackendContext) -> MoveItBackend:
    """The ``moveit`` backend of pick_place_node, configured by its own parameters (declared here,
    on the node, when this backend is chosen)."""
    values: dict[str, Any] = {spec.name: spec.default for spec in MOVEIT_PARAMETERS}
    if context.node is not None:
        declare_parameters(context.node, MOVEIT_PARAMETERS)
        values = {s.name: context.node.get_parameter(s.name).value for s in MOVEIT_PARAMETERS}
    config = read_moveit_config(values, context.plan_frame)
    return MoveItBackend(context.node, config, callback_group=context.callback_group)


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
    def __init__(self, status: ExecutionStatus, message: str, planning_s: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.planning_s = planning_s  # spent planning before the failure


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
        planning: list[float] = []  # _run appends each step's planning time

        def result(status: ExecutionStatus, message: str, index: int | None) -> ExecutionResult:
            return ExecutionResult(status, message, index, tuple(durations), tuple(planning))

        for index, step in enumerate(plan.steps):
            if is_cancelled():
                return result(ExecutionStatus.CANCELED, "cancelled", index)
            if on_step is not None:
                on_step(index, step)
            started = time.monotonic()
            try:
                planning.append(self._run(step, self._types, is_cancelled))
            except _StepError as err:
                durations.append(time.monotonic() - started)
                planning.append(err.planning_s)
                return result(err.status, err.message, index)
            durations.append(time.monotonic() - started)
        return result(ExecutionStatus.SUCCEEDED, "", None)

    # ----- steps -----------------------------------------------------------------------------
    def _run(self, step: Step, t: MoveItTypes, cancelled: Callable[[], bool]) -> float:
        """Run one step; the seconds of it spent planning (move_group's planning_time for a
        MOVE, the compute_cartesian_path call for a LINEAR step)."""
        if step.kind in (StepKind.OPEN, StepKind.CLOSE):
            self._grip(step.kind is StepKind.CLOSE, t, cancelled)
            return 0.0
        if step.tcp_pose is None:
            raise _StepError(ExecutionStatus.PLANNING_FAILED, f"{step.label}: no pose")
        if step.kind is StepKind.MOVE:
            if self._moveit_py is not None:
                self._move_moveit_py(step)
                return 0.0
            goal = fill_move_group_goal(
                goals.pose_goal(step.tcp_pose, self.cfg, speed_scale=step.speed_scale), t
            )
            result = self._send(self._move, goal, cancelled, "move_action")
            planned_s = float(getattr(result, "planning_time", 0.0))
            self._check(result, step.label, planned_s)
            return planned_s
        request = fill_cartesian_request(
            goals.cartesian_request((step.tcp_pose,), self.cfg, step.speed_scale), t
        )
        asked = time.monotonic()
        response = self._wait(self._cartesian.call_async(request), cancelled, "cartesian path")
        planned_s = time.monotonic() - asked
        self._check(response, step.label, planned_s)
        if response.fraction < self.cfg.cartesian_min_fraction:
            raise _StepError(
                ExecutionStatus.PLANNING_FAILED,
                f"{step.label}: Cartesian path covers {response.fraction:.2f} of the line "
                f"(need {self.cfg.cartesian_min_fraction:.2f})",
                planned_s,
            )
        result = self._send(
            self._execute, fill_execute_goal(response.solution, t), cancelled, "execute"
        )
        self._check(result, step.label, planned_s)
        return planned_s

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

    def _check(self, result: Any, label: str, planning_s: float = 0.0) -> None:
        code, message = _error_of(result)
        status = goals.execution_status(code)
        if status is not ExecutionStatus.SUCCEEDED:
            raise _StepError(status, f"{label}: {goals.describe_error(code, message)}", planning_s)

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
        waited = wait_future(future, time.monotonic() + self._step_timeout_s, cancelled)
        if waited is Waited.CANCELLED:
            future.cancel()
            raise _StepError(ExecutionStatus.CANCELED, f"cancelled while waiting for {what}")
        if waited is Waited.TIMED_OUT:
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
