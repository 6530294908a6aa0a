"""The simulated UR5e cell's driver interfaces: what ur_robot_driver and a Robotiq driver serve,
over the arm and the gripper of sim_node's physics (``SimWorld``).

- ``/joint_states`` (sensor_msgs/JointState): the six UR joints (``shoulder_pan_joint`` ...
  ``wrist_3_joint``) and the gripper's driver joint, at ``joint_state_rate_hz``;
- ``base_link -> tool0`` on /tf with each joint state (the flange; a real cell's
  robot_state_publisher publishes the whole chain from the URDF);
- ``/scaled_joint_trajectory_controller/follow_joint_trajectory``
  (control_msgs/FollowJointTrajectory): the trajectory runs on the simulated arm
  (``sim.arms.controllers.follow_trajectory``: path and goal tolerances, goal time, the action's
  error codes; a cancel stops the arm where it is);
- ``/robotiq_gripper_controller/gripper_cmd`` (control_msgs/GripperCommand): 0.0 open ... 0.8
  closed, ``max_effort``; the result's ``stalled`` says the fingers stopped on something before
  the goal, ``reached_goal`` that they got there.

One goal at a time per action (a second is rejected, as the controllers do). With a key-frame
folder (sim_node's ``frames_dir``) the driver writes the pick-and-place key frames from what it
is asked to do: start (the first trajectory), grasp (fingers stalled on something), lift (the
next trajectory), place (before the fingers open), end (the trajectory after that), and the
strip. The controller's
own path and goal tolerances (for joints a goal gives none) are sim_node's parameters
``trajectory_path_tolerance_rad`` / ``trajectory_goal_tolerance_rad`` (ur_robot_driver's 0.2 /
0.1 rad), changeable while it runs, as a controller's ``constraints``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.ros.conversions import stamp_ns, time_msg, transform_to_msg
from roborefer_ros.ros.goals import end_goal
from roborefer_ros.ros.tf import TF_QOS
from roborefer_ros.sim.arms.controllers import (
    DEFAULT_GOAL_TOLERANCE_RAD,
    DEFAULT_PATH_TOLERANCE_RAD,
    JointTrajectory,
    Tolerances,
    TrajectoryError,
    command_gripper,
    follow_trajectory,
)
from roborefer_ros.sim.arms.kinematics import ARM_JOINTS
from roborefer_ros.sim.episodes.live import SimWorld
from roborefer_ros.sim.episodes.strip import DriverKeyFrames, KeyFrameWriter
from roborefer_ros.sim.errors import SimError

TRAJECTORY_ACTION = "/scaled_joint_trajectory_controller/follow_joint_trajectory"
GRIPPER_ACTION = "/robotiq_gripper_controller/gripper_cmd"
GRIPPER_JOINT = "robotiq_85_left_knuckle_joint"  # ros2_robotiq_gripper's driver joint
TOOL0_FRAME = "tool0"


def trajectory_from_msg(msg: Any) -> JointTrajectory:
    """``trajectory_msgs/JointTrajectory`` as plain data (velocities only when every point has
    them)."""
    points = list(msg.points)
    times = tuple(stamp_ns(p.time_from_start) * 1e-9 for p in points)
    positions = tuple(tuple(float(v) for v in p.positions) for p in points)
    with_velocities = bool(points) and all(
        len(p.velocities) == len(msg.joint_names) for p in points
    )
    velocities = (
        tuple(tuple(float(v) for v in p.velocities) for p in points) if with_velocities else None
    )
    return JointTrajectory(tuple(msg.joint_names), times, positions, velocities)


def tolerances_from_goal(
    goal: Any,
    default_path_rad: float = DEFAULT_PATH_TOLERANCE_RAD,
    default_goal_rad: float = DEFAULT_GOAL_TOLERANCE_RAD,
) -> Tolerances:
    """The goal's path / goal tolerances per joint (position only) and its goal time; the
    controller's own constraints where the goal gives none."""
    return Tolerances(
        path_rad={t.name: float(t.position) for t in goal.path_tolerance},
        goal_rad={t.name: float(t.position) for t in goal.goal_tolerance},
        goal_time_s=stamp_ns(goal.goal_time_tolerance) * 1e-9,
        default_path_rad=default_path_rad,
        default_goal_rad=default_goal_rad,
    )


class SimUrDriver:
    """The driver interfaces of the simulated UR5e cell, on ``node`` (sim_node)."""

    def __init__(
        self,
        node: Node,
        world: SimWorld,
        base_frame: str,
        joint_state_rate_hz: float = 50.0,
        stamp_of: Callable[[float], int] | None = None,
        frames_dir: str = "",
    ) -> None:
        """``stamp_of(sim_time_s)``: the stamp of a state (sim_node's clock: the wall clock, or
        the physics time when it publishes /clock); default the node's clock."""
        from control_msgs.action import FollowJointTrajectory, GripperCommand

        self.node, self.world, self.base_frame = node, world, base_frame
        self._stamp_of = stamp_of or (lambda _t: int(node.get_clock().now().nanoseconds))
        self._frames = (
            DriverKeyFrames(KeyFrameWriter(frames_dir), self._render) if frames_dir else None
        )
        self._types = (FollowJointTrajectory, GripperCommand)
        self._group = ReentrantCallbackGroup()
        self._arm_busy = threading.Lock()
        self._hand_busy = threading.Lock()
        self._pub_joints = node.create_publisher(JointState, "/joint_states", 10)
        self._pub_tf = node.create_publisher(TFMessage, "/tf", TF_QOS)
        self._servers = [
            ActionServer(
                node,
                FollowJointTrajectory,
                TRAJECTORY_ACTION,
                execute_callback=self._follow,
                goal_callback=lambda _g: GoalResponse.ACCEPT,
                cancel_callback=lambda _g: CancelResponse.ACCEPT,
                callback_group=self._group,
            ),
            ActionServer(
                node,
                GripperCommand,
                GRIPPER_ACTION,
                execute_callback=self._grip,
                goal_callback=lambda _g: GoalResponse.ACCEPT,
                cancel_callback=lambda _g: CancelResponse.ACCEPT,
                callback_group=self._group,
            ),
        ]
        self._timer = node.create_timer(1.0 / joint_state_rate_hz, self._publish_state)

    def destroy(self) -> None:
        self._timer.cancel()
        for server in self._servers:
            server.destroy()

    def _render(self) -> Any:
        """The scene camera's frame now (rendered on the sim thread)."""
        return self.world.run_on_sim(lambda _arm, _hook: self.world.render_frame())

    # ----- state ------------------------------------------------------------------------------
    def _publish_state(self) -> None:
        state = self.world.arm_state
        if state is None or not self.node.context.ok():
            return
        stamp = self._stamp_of(state.sim_time_s)
        header = Header(stamp=time_msg(stamp))
        msg = JointState(header=header)
        msg.name = [*ARM_JOINTS, GRIPPER_JOINT]
        msg.position = [*state.q, state.hand_position]
        msg.velocity = [*state.qd, 0.0]
        self._pub_joints.publish(msg)
        if state.T_base_from_flange is not None:
            flange = StampedTransform(self.base_frame, TOOL0_FRAME, stamp, state.T_base_from_flange)
            self._pub_tf.publish(TFMessage(transforms=[transform_to_msg(flange)]))

    # ----- FollowJointTrajectory -----------------------------------------------------------------
    def _follow(self, goal_handle: Any) -> Any:
        action = self._types[0]
        result = action.Result()
        if not self._arm_busy.acquire(blocking=False):
            result.error_code = action.Result.INVALID_GOAL
            result.error_string = "busy: the controller is executing another trajectory"
            end_goal(goal_handle, succeeded=False, cancelled=False)
            return result
        try:
            goal = goal_handle.request
            trajectory = trajectory_from_msg(goal.trajectory)
            if self._frames is not None:
                self._frames.before_trajectory()
            tolerances = tolerances_from_goal(
                goal,
                float(self.node.get_parameter("trajectory_path_tolerance_rad").value),
                float(self.node.get_parameter("trajectory_goal_tolerance_rad").value),
            )
            outcome = self.world.run_on_sim(
                lambda arm, hook: follow_trajectory(arm, ARM_JOINTS, trajectory, tolerances, hook),
                lambda: bool(goal_handle.is_cancel_requested),
            )
            result.error_code = int(outcome.error)
            result.error_string = outcome.message
            succeeded = outcome.error is TrajectoryError.SUCCESSFUL and not outcome.canceled
            if self._frames is not None and succeeded:
                self._frames.after_trajectory()
            end_goal(goal_handle, succeeded=succeeded, cancelled=outcome.canceled)
        except SimError as err:
            result.error_code = action.Result.INVALID_GOAL
            result.error_string = str(err)
            end_goal(goal_handle, succeeded=False, cancelled=False)
        finally:
            self._arm_busy.release()
        return result

    # ----- GripperCommand ----------------------------------------------------------------------
    def _grip(self, goal_handle: Any) -> Any:
        action = self._types[1]
        result = action.Result()
        if not self._hand_busy.acquire(blocking=False):
            end_goal(goal_handle, succeeded=False, cancelled=False)
            return result
        try:
            command = goal_handle.request.command
            opening = float(command.position) < self.world.arm_hand_position()
            if self._frames is not None and opening:
                self._frames.before_open()
            outcome = self.world.run_on_sim(
                lambda arm, hook: command_gripper(
                    arm, float(command.position), float(command.max_effort), hook
                ),
                lambda: bool(goal_handle.is_cancel_requested),
            )
            result.position = float(outcome.position)
            result.effort = float(outcome.effort)
            result.stalled = bool(outcome.stalled)
            result.reached_goal = bool(outcome.reached_goal)
            if self._frames is not None and not opening:
                self._frames.after_close(bool(outcome.stalled))
            end_goal(
                goal_handle,
                succeeded=outcome.reached_goal or outcome.stalled,
                cancelled=outcome.canceled,
            )
        except SimError as err:
            self.node.get_logger().error(f"gripper command failed: {err}")
            end_goal(goal_handle, succeeded=False, cancelled=False)
        finally:
            self._hand_busy.release()
        return result
