"""sim_move_group: a move_group for the simulated UR5e cell. SIMULATION INSTRUMENTATION, never
started by the robot launch files: on a real cell ur_moveit_config's move_group serves these.

It serves what the pick-and-place node's ``moveit`` backend uses of move_group, under the same
names and types:

- ``move_action`` (moveit_msgs/MoveGroup): plan from the current (or given) start state to the
  first reachable of the goal constraints (pose, position, orientation or joint, with their
  tolerances; workspace box, planning time, attempts, velocity/acceleration scaling), then, unless
  ``plan_only``, execute through the controller; ``planning_options.replan`` plans again from where
  the arm stopped when the controller failed (``replan_attempts`` times, ``replan_delay`` apart);
- ``compute_cartesian_path`` (moveit_msgs/GetCartesianPath): the tip along straight lines through
  the waypoints in ``max_step`` steps; ``fraction`` is the share achieved;
- ``execute_trajectory`` (moveit_msgs/ExecuteTrajectory): a trajectory through the controller.

Execution is MoveIt's trajectory execution: the trajectory goes to the FollowJointTrajectory
controller (``controller_action``; sim_node serves the UR driver's), must start within
``allowed_start_tolerance`` of the joint states, and is cancelled with TIMED_OUT when it overruns
its duration x ``allowed_execution_duration_scaling`` + ``allowed_goal_duration_margin``. A
cancelled goal cancels the controller's goal (the arm stops) and ends PREEMPTED. One goal at a
time: a goal arriving while another plans or moves is rejected. The planning itself
(``sim.motion_planning.CellPlanner``) knows the robot and the table, never the simulator's
objects, as a real planning scene without collision objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.action.client import ActionClient
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from roborefer_ros.manipulation.moveit.goals import MoveItErrorCode
from roborefer_ros.ros.conversions import stamp_ns
from roborefer_ros.ros.goals import end_goal
from roborefer_ros.ros.sim.move_group.messages import (
    CellModel,
    check_frame,
    check_link,
    motion_request_of,
    pose_of,
    robot_state_msg,
    robot_trajectory_msg,
    start_of,
)
from roborefer_ros.ros.sim.move_group.params import SimMoveGroupConfig, declare_and_read
from roborefer_ros.ros.spin_thread import Waited, wait_future
from roborefer_ros.sim.motion_planning import (
    CellPlanner,
    PlanningError,
    Scaling,
    Trajectory,
)

SOURCE = "sim_move_group"
_CANCEL_WAIT_S = 3.0  # for the controller to confirm a stop
_ACCEPT_WAIT_S = 5.0


class SimMoveGroup(Node):
    def __init__(self, node_name: str = "move_group", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.cfg: SimMoveGroupConfig = declare_and_read(self)  # ValueError: refuse to start
        from control_msgs.action import FollowJointTrajectory
        from moveit_msgs.action import ExecuteTrajectory, MoveGroup
        from moveit_msgs.msg import RobotState, RobotTrajectory
        from moveit_msgs.srv import GetCartesianPath

        self._msgs = (MoveGroup, ExecuteTrajectory, RobotState, RobotTrajectory)
        cfg = self.cfg
        started = time.monotonic()
        self.planner = CellPlanner(cfg.robot, seed=cfg.seed)  # SimError: refuse to start
        self.planner.warm_up()
        self.cell = CellModel(
            cfg.planning_frame, cfg.group_name, cfg.tip_link, self.planner.joint_names
        )
        self._planner_lock = threading.Lock()
        self._busy_lock = threading.Lock()
        self._busy = False
        self._state_lock = threading.Lock()
        self._joints: dict[str, float] = {}
        self._joints_stamp_ns = -1
        self.create_subscription(JointState, cfg.joint_states_topic, self._on_joints, 10)
        group = ReentrantCallbackGroup()
        self._controller: Any = ActionClient(
            self, FollowJointTrajectory, cfg.controller_action, callback_group=group
        )
        self._fjt = FollowJointTrajectory
        self._servers = [
            ActionServer(
                self,
                MoveGroup,
                "move_action",
                execute_callback=self._move,
                goal_callback=self._accept_if_idle,
                cancel_callback=lambda _g: CancelResponse.ACCEPT,
                callback_group=group,
            ),
            ActionServer(
                self,
                ExecuteTrajectory,
                "execute_trajectory",
                execute_callback=self._execute,
                goal_callback=self._accept_if_idle,
                cancel_callback=lambda _g: CancelResponse.ACCEPT,
                callback_group=group,
            ),
        ]
        self._cartesian_service = self.create_service(
            GetCartesianPath, "compute_cartesian_path", self._cartesian, callback_group=group
        )
        self.get_logger().info(
            f"simulated move_group for the {cfg.robot} (group {cfg.group_name}, tip "
            f"{cfg.tip_link}, frame {cfg.planning_frame}) ready in "
            f"{time.monotonic() - started:.1f} s; executing through {cfg.controller_action}"
        )

    def destroy_node(self) -> None:
        for server in getattr(self, "_servers", []):
            server.destroy()
        super().destroy_node()

    # ----- state ------------------------------------------------------------------------------
    def _on_joints(self, msg: Any) -> None:
        stamp = stamp_ns(msg.header.stamp)
        with self._state_lock:
            if stamp < self._joints_stamp_ns:
                return  # an older state arriving late
            self._joints.update(zip(msg.name, (float(p) for p in msg.position), strict=False))
            self._joints_stamp_ns = stamp

    def current_joints(self) -> np.ndarray:
        """The group's joints from a joint state stamped at or after this call (MoveIt's
        current state monitor: a state from before the request may be from before the last
        motion ended), waiting up to ``robot_state_timeout_s``; ROBOT_STATE_STALE without."""
        timeout = self.cfg.robot_state_timeout_s
        asked_ns = int(self.get_clock().now().nanoseconds)
        deadline = time.monotonic() + timeout
        names = self.cell.joint_names
        while True:
            with self._state_lock:
                fresh = self._joints_stamp_ns >= asked_ns
                if fresh and all(n in self._joints for n in names):
                    return np.array([self._joints[n] for n in names], dtype=np.float64)
            if time.monotonic() > deadline:
                raise PlanningError(
                    MoveItErrorCode.ROBOT_STATE_STALE,
                    f"no joint state of {list(names)} on {self.cfg.joint_states_topic} "
                    f"stamped after the request within {timeout:g} s",
                )
            time.sleep(0.005)

    def _accept_if_idle(self, _goal: Any) -> GoalResponse:
        with self._busy_lock:
            if self._busy:
                self.get_logger().warning("goal rejected: another goal is planning or moving")
                return GoalResponse.REJECT
            self._busy = True
            return GoalResponse.ACCEPT

    def _idle(self) -> None:
        with self._busy_lock:
            self._busy = False

    # ----- move_action ------------------------------------------------------------------------
    def _move(self, goal_handle: Any) -> Any:
        MoveGroup, _, RobotState, RobotTrajectory = self._msgs
        result = MoveGroup.Result()
        started = time.monotonic()
        code, message = MoveItErrorCode.SUCCESS, ""
        try:
            goal_handle.publish_feedback(MoveGroup.Feedback(state="PLANNING"))
            request = goal_handle.request.request
            options = goal_handle.request.planning_options
            trajectory = self._plan(request, from_current=False)
            result.planning_time = time.monotonic() - started
            result.trajectory_start = robot_state_msg(
                trajectory.joint_names, trajectory.positions[0], RobotState
            )
            result.planned_trajectory = robot_trajectory_msg(
                trajectory, self.cfg.planning_frame, RobotTrajectory
            )
            if goal_handle.is_cancel_requested:
                code, message = MoveItErrorCode.PREEMPTED, "cancelled after planning"
            elif not options.plan_only:
                goal_handle.publish_feedback(MoveGroup.Feedback(state="MONITOR"))
                code, message = self._run_on_controller(result.planned_trajectory, goal_handle)
                replans = max(1, int(options.replan_attempts)) if options.replan else 0
                while code is MoveItErrorCode.CONTROL_FAILED and replans > 0:
                    replans -= 1
                    self.get_logger().warning(f"{message}; replanning from where the arm is")
                    time.sleep(max(0.0, float(options.replan_delay)))
                    if goal_handle.is_cancel_requested:
                        code, message = MoveItErrorCode.PREEMPTED, "cancelled while replanning"
                        break
                    goal_handle.publish_feedback(MoveGroup.Feedback(state="PLANNING"))
                    replanned = self._plan(request, from_current=True)
                    result.planned_trajectory = robot_trajectory_msg(
                        replanned, self.cfg.planning_frame, RobotTrajectory
                    )
                    goal_handle.publish_feedback(MoveGroup.Feedback(state="MONITOR"))
                    code, message = self._run_on_controller(result.planned_trajectory, goal_handle)
                if code is MoveItErrorCode.SUCCESS:
                    result.executed_trajectory = result.planned_trajectory
        except PlanningError as err:
            code, message = err.code, err.message
            result.planning_time = time.monotonic() - started
        finally:
            self._idle()
        self._finish(goal_handle, result, code, message, "move_action")
        return result

    def _plan(self, request: Any, *, from_current: bool) -> Trajectory:
        current = self.current_joints()
        with self._planner_lock:
            start = current if from_current else start_of(request.start_state, self.cell, current)
            tip = self.planner.tool0(start)
            motion = motion_request_of(
                request, self.cell, start, tip, self.cfg.default_planning_time_s
            )
            return self.planner.plan_request(start, motion)

    # ----- execute_trajectory -----------------------------------------------------------------
    def _execute(self, goal_handle: Any) -> Any:
        _, ExecuteTrajectory, _, _ = self._msgs
        result = ExecuteTrajectory.Result()
        try:
            goal_handle.publish_feedback(ExecuteTrajectory.Feedback(state="MONITOR"))
            code, message = self._run_on_controller(goal_handle.request.trajectory, goal_handle)
        except PlanningError as err:
            code, message = err.code, err.message
        finally:
            self._idle()
        self._finish(goal_handle, result, code, message, "execute_trajectory")
        return result

    # ----- trajectory execution ---------------------------------------------------------------
    def _run_on_controller(
        self, robot_trajectory: Any, goal_handle: Any
    ) -> tuple[MoveItErrorCode, str]:
        """Run a RobotTrajectory's joint part on the controller; MoveIt's code and a message."""
        cfg = self.cfg
        jt = robot_trajectory.joint_trajectory
        if not jt.points:
            return MoveItErrorCode.SUCCESS, "empty trajectory: nothing to execute"
        tolerance = cfg.allowed_start_tolerance
        if tolerance > 0:
            current = dict(zip(self.cell.joint_names, self.current_joints(), strict=True))
            first = jt.points[0].positions
            for name, q in zip(jt.joint_names, first, strict=False):
                if name in current and abs(float(q) - current[name]) > tolerance:
                    return MoveItErrorCode.CONTROL_FAILED, (
                        f"the trajectory starts {abs(float(q) - current[name]):.3f} rad from "
                        f"the current {name} (allowed_start_tolerance {tolerance:g})"
                    )
        if not self._controller.wait_for_server(timeout_sec=cfg.controller_wait_s):
            return MoveItErrorCode.CONTROL_FAILED, f"controller {cfg.controller_action} not served"
        goal = self._fjt.Goal()
        goal.trajectory = jt
        send = self._controller.send_goal_async(goal)
        if wait_future(send, time.monotonic() + _ACCEPT_WAIT_S) is not Waited.DONE:
            return MoveItErrorCode.CONTROL_FAILED, "the controller did not answer the goal"
        handle = send.result()
        if handle is None or not handle.accepted:
            return MoveItErrorCode.CONTROL_FAILED, "the controller rejected the trajectory"
        last = jt.points[-1].time_from_start
        duration = last.sec + last.nanosec * 1e-9
        allowed = (
            duration * cfg.allowed_execution_duration_scaling + cfg.allowed_goal_duration_margin
        )
        done = handle.get_result_async()
        waited = self._wait_execution(done, allowed, lambda: bool(goal_handle.is_cancel_requested))
        if waited is not Waited.DONE:
            stop = handle.cancel_goal_async()
            wait_future(stop, time.monotonic() + _CANCEL_WAIT_S)
            wait_future(done, time.monotonic() + _CANCEL_WAIT_S)
            if waited is Waited.CANCELLED:
                return MoveItErrorCode.PREEMPTED, "cancelled: the controller stopped the arm"
            return MoveItErrorCode.TIMED_OUT, (
                f"execution exceeded {allowed:.2f} s ({duration:.2f} s trajectory x "
                f"{cfg.allowed_execution_duration_scaling:g} + "
                f"{cfg.allowed_goal_duration_margin:g} s); the controller was stopped"
            )
        wrapped = done.result()
        outcome = wrapped.result
        if outcome.error_code != self._fjt.Result.SUCCESSFUL:
            return MoveItErrorCode.CONTROL_FAILED, (
                f"controller {cfg.controller_action} failed ({outcome.error_code}): "
                f"{outcome.error_string}"
            )
        if goal_handle.is_cancel_requested:
            return MoveItErrorCode.PREEMPTED, "cancelled at the end of the trajectory"
        return MoveItErrorCode.SUCCESS, ""

    def _wait_execution(self, done: Any, allowed_s: float, cancelled: Callable[[], bool]) -> Waited:
        """Wait for the controller's result; TIMED_OUT once ``allowed_s`` of the node's clock
        passed (with use_sim_time: simulated seconds, as MoveIt measures on its clock)."""
        clock = self.get_clock()
        started = clock.now()
        while True:
            waited = wait_future(done, time.monotonic() + 0.1, cancelled)
            if waited is not Waited.TIMED_OUT:
                return waited
            elapsed = (clock.now() - started).nanoseconds * 1e-9
            if self.cfg.execution_duration_monitoring and elapsed > allowed_s:
                return Waited.TIMED_OUT

    # ----- compute_cartesian_path -------------------------------------------------------------
    def _cartesian(self, request: Any, response: Any) -> Any:
        _, _, RobotState, RobotTrajectory = self._msgs
        code, message = MoveItErrorCode.SUCCESS, ""
        try:
            current = self.current_joints()
            check_frame(request.header.frame_id, self.cell, "the waypoints")
            check_link(request.link_name, self.cell, "the Cartesian path")
            try:
                waypoints = [pose_of(p) for p in request.waypoints]
            except ValueError as err:
                raise PlanningError(MoveItErrorCode.INVALID_GOAL_CONSTRAINTS, str(err)) from None
            with self._planner_lock:
                start = start_of(request.start_state, self.cell, current)
                path = self.planner.cartesian_path(
                    start,
                    waypoints,
                    float(request.max_step),
                    jump_threshold=float(request.jump_threshold),
                    revolute_jump_threshold_rad=float(request.revolute_jump_threshold),
                    avoid_collisions=bool(request.avoid_collisions),
                    scaling=Scaling(
                        float(request.max_velocity_scaling_factor),
                        float(request.max_acceleration_scaling_factor),
                    ),
                )
            response.start_state = robot_state_msg(self.cell.joint_names, start, RobotState)
            response.solution = robot_trajectory_msg(
                path.trajectory, self.cfg.planning_frame, RobotTrajectory
            )
            response.fraction = float(path.fraction)
            message = path.stopped_because
        except PlanningError as err:
            code, message = err.code, err.message
            response.fraction = -1.0
        response.error_code.val = int(code)
        _set_message(response.error_code, message)
        return response

    # ----- results ----------------------------------------------------------------------------
    def _finish(
        self, goal_handle: Any, result: Any, code: MoveItErrorCode, message: str, what: str
    ) -> None:
        result.error_code.val = int(code)
        _set_message(result.error_code, message)
        line = f"{what}: {code.name}" + (f": {message}" if message else "")
        if code is MoveItErrorCode.SUCCESS:
            self.get_logger().info(line)
        else:
            self.get_logger().warning(line)
        end_goal(
            goal_handle,
            succeeded=code is MoveItErrorCode.SUCCESS,
            cancelled=code is MoveItErrorCode.PREEMPTED,
        )


def _set_message(error_code: Any, message: str) -> None:
    """MoveItErrorCodes' message/source (Jazzy and later; absent on Humble's messages)."""
    if hasattr(error_code, "message"):
        error_code.message = message
        error_code.source = SOURCE
