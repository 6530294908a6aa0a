"""sim_node on a live graph as the UR5e cell: the camera (colour, aligned depth, camera_info) and
TF (static camera, dynamic object frames, the flange) are published, also while the arm moves;
/joint_states like ur_robot_driver's; the FollowJointTrajectory controller runs a trajectory,
stops on a cancel and aborts one the arm cannot follow with the action's error code; the
Robotiq GripperCommand reports where the fingers stopped."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest
from builtin_interfaces.msg import Duration
from rclpy.action import ActionClient
from sensor_msgs.msg import CameraInfo, Image, JointState
from tf2_msgs.msg import TFMessage
from trajectory_msgs.msg import JointTrajectoryPoint

from roborefer_ros.ros.graph import GraphClient
from roborefer_ros.ros.sim.ur_driver import GRIPPER_ACTION, GRIPPER_JOINT, TRAJECTORY_ACTION
from roborefer_ros.ros.spin_thread import Waited, wait_future
from roborefer_ros.sim.arms.kinematics import ARM_JOINTS

from .conftest import UrCell

pytestmark = pytest.mark.graph

control_msgs = pytest.importorskip("control_msgs.action")
FollowJointTrajectory = control_msgs.FollowJointTrajectory
GripperCommand = control_msgs.GripperCommand
STATUS_SUCCEEDED, STATUS_CANCELED, STATUS_ABORTED = 4, 5, 6  # action_msgs/GoalStatus


class _Watch:
    """Counts camera frames (with their wall times), keeps the TF and the joint states it saw."""

    def __init__(self, graph: GraphClient) -> None:
        from roborefer_ros.ros.tf import TF_QOS, TF_STATIC_QOS

        self.lock = threading.Lock()
        self.frames: dict[str, list[float]] = {"color": [], "depth": [], "info": []}
        self.encodings: set[str] = set()
        self.dynamic: dict[str, Any] = {}
        self.static: dict[str, Any] = {}
        self.joints: JointState | None = None
        node = graph.node
        node.create_subscription(Image, "/cam/color/image_raw", self._seen("color"), 5)
        node.create_subscription(
            Image, "/cam/aligned_depth_to_color/image_raw", self._seen("depth"), 5
        )
        node.create_subscription(CameraInfo, "/cam/color/camera_info", self._seen("info"), 5)
        node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
        node.create_subscription(TFMessage, "/tf_static", self._on_static, TF_STATIC_QOS)
        node.create_subscription(JointState, "/joint_states", self._on_joints, 10)

    def _seen(self, what: str) -> Any:
        def callback(msg: Any) -> None:
            with self.lock:
                self.frames[what].append(time.monotonic())
                if what == "depth":
                    self.encodings.add(msg.encoding)

        return callback

    def _on_tf(self, msg: Any) -> None:
        with self.lock:
            for t in msg.transforms:
                self.dynamic[t.child_frame_id] = t

    def _on_static(self, msg: Any) -> None:
        with self.lock:
            for t in msg.transforms:
                self.static[t.child_frame_id] = t

    def _on_joints(self, msg: JointState) -> None:
        with self.lock:
            self.joints = msg

    def count(self, what: str, t0: float, t1: float) -> int:
        with self.lock:
            return sum(1 for t in self.frames[what] if t0 <= t <= t1)

    def arm_q(self) -> list[float]:
        with self.lock:
            assert self.joints is not None
            by_name = dict(zip(self.joints.name, self.joints.position, strict=True))
        return [by_name[j] for j in ARM_JOINTS]


def _trajectory_goal(start: list[float], *points: tuple[float, list[float]]) -> Any:
    """A FollowJointTrajectory goal through (time, positions) points."""
    goal = FollowJointTrajectory.Goal()
    goal.trajectory.joint_names = list(ARM_JOINTS)
    for t, q in points:
        ns = round(t * 1e9)
        goal.trajectory.points.append(
            JointTrajectoryPoint(
                positions=[float(v) for v in q],
                time_from_start=Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000),
            )
        )
    return goal


def _send(client: Any, goal: Any, timeout_s: float = 60.0, cancel_after_s: float = -1.0) -> Any:
    """Send a goal, optionally cancel it after ``cancel_after_s``; the wrapped result."""
    sent = client.send_goal_async(goal)
    assert wait_future(sent, time.monotonic() + 10.0) is Waited.DONE
    handle = sent.result()
    assert handle.accepted
    done = handle.get_result_async()
    if cancel_after_s >= 0:
        time.sleep(cancel_after_s)
        handle.cancel_goal_async()
    assert wait_future(done, time.monotonic() + timeout_s) is Waited.DONE
    return done.result()


def _wait_ready(cell: UrCell, watch: _Watch, *clients: Any) -> None:
    deadline = time.monotonic() + 90.0
    while True:
        objects = any(name.startswith("object/") for name in watch.dynamic)
        if (
            all(c.server_is_ready() for c in clients)
            and watch.count("color", 0, math.inf) >= 3
            and objects
            and watch.joints is not None
        ):
            return
        assert time.monotonic() < deadline, cell.logs()
        assert cell.sim.alive(), cell.logs()
        time.sleep(0.1)


def test_camera_tf_joint_states_and_a_trajectory_with_the_camera_live_then_a_cancel(
    ur5e_cell: UrCell, graph: GraphClient
) -> None:
    watch = _Watch(graph)
    arm = ActionClient(graph.node, FollowJointTrajectory, TRAJECTORY_ACTION)
    _wait_ready(ur5e_cell, watch, arm)
    assert watch.encodings == {"16UC1"}
    assert {"camera_link", "camera_color_optical_frame"} <= set(watch.static)
    assert watch.static["camera_link"].header.frame_id == "base_link"
    assert "object/obj4_box" in watch.dynamic
    assert watch.dynamic["tool0"].header.frame_id == "base_link"
    assert watch.joints is not None
    assert list(watch.joints.name) == [*ARM_JOINTS, GRIPPER_JOINT]

    # A trajectory runs: the camera keeps publishing while the arm moves.
    q0 = watch.arm_q()
    target = [q0[0] + 0.4, *q0[1:]]
    middle = [q0[0] + 0.2, *q0[1:]]
    t0 = time.monotonic()
    wrapped = _send(arm, _trajectory_goal(q0, (1.0, middle), (2.0, target)))
    t1 = time.monotonic()
    assert wrapped.status == STATUS_SUCCEEDED, wrapped.result.error_string
    assert wrapped.result.error_code == FollowJointTrajectory.Result.SUCCESSFUL
    time.sleep(0.3)
    assert max(abs(a - b) for a, b in zip(watch.arm_q(), target, strict=True)) < 0.02
    rate = watch.count("color", t0, t1) / (t1 - t0)
    print(f"camera {rate:.1f} Hz while the arm moved for {t1 - t0:.1f} s")
    assert rate >= 1.0, f"{rate:.1f} Hz while moving for {t1 - t0:.1f} s"

    # A cancel stops the arm where it is.
    back = [q0[0] - 0.4, *q0[1:]]
    wrapped = _send(arm, _trajectory_goal(target, (10.0, back)), cancel_after_s=1.0)
    assert wrapped.status == STATUS_CANCELED
    time.sleep(0.3)  # the last joint states of the motion arrive
    stopped = watch.arm_q()
    time.sleep(0.5)
    assert max(abs(a - b) for a, b in zip(watch.arm_q(), stopped, strict=True)) < 0.003
    assert target[0] - 0.01 > stopped[0] > back[0] + 0.1  # stopped on the way


def test_a_trajectory_the_arm_cannot_follow_aborts_naming_the_path_tolerance(
    ur5e_cell: UrCell, graph: GraphClient
) -> None:
    watch = _Watch(graph)
    arm = ActionClient(graph.node, FollowJointTrajectory, TRAJECTORY_ACTION)
    _wait_ready(ur5e_cell, watch, arm)
    q0 = watch.arm_q()
    jump = [q0[0] + 1.0, *q0[1:]]  # a radian in 50 ms: no servo follows that
    wrapped = _send(arm, _trajectory_goal(q0, (0.05, jump), (0.5, jump)))
    assert wrapped.status == STATUS_ABORTED
    assert wrapped.result.error_code == FollowJointTrajectory.Result.PATH_TOLERANCE_VIOLATED
    assert "shoulder_pan_joint" in wrapped.result.error_string
    # joints the goal lists must be the controller's
    bad = _trajectory_goal(q0, (1.0, q0))
    bad.trajectory.joint_names = ["a", "b", "c", "d", "e", "f"]
    wrapped = _send(arm, bad)
    assert wrapped.result.error_code == FollowJointTrajectory.Result.INVALID_JOINTS


def test_the_gripper_reaches_closed_on_nothing_and_opens(
    ur5e_cell: UrCell, graph: GraphClient
) -> None:
    watch = _Watch(graph)
    gripper = ActionClient(graph.node, GripperCommand, GRIPPER_ACTION)
    _wait_ready(ur5e_cell, watch, gripper)
    goal = GripperCommand.Goal()
    goal.command.position, goal.command.max_effort = 0.8, 50.0
    closed = _send(gripper, goal).result
    assert closed.reached_goal and not closed.stalled
    assert closed.position > 0.75
    goal.command.position = 0.0
    opened = _send(gripper, goal).result
    assert opened.reached_goal and opened.position < 0.05
