"""sim_node: the MuJoCo tabletop as a robot and a RealSense on a live graph.

Publishes, namespace-relative like realsense2_camera (remap or push into a camera namespace):
``color/image_raw`` (rgb8), ``aligned_depth_to_color/image_raw`` (16UC1 mm or 32FC1 m) and
``color/camera_info`` at ``rate_hz``; ``base_link -> camera_link -> camera_color_optical_frame``
once on /tf_static (the camera is static: the scene's, for the G1 its head camera; the G1 adds
``base_link -> torso_link``, its plan frame); every object as ``object/<name>`` on /tf with each
frame (where the robot left it); optionally /clock from the physics time. Serves
``~/execute_steps`` (ExecuteSteps): the plan runs on the scene's simulated arm with real contacts,
while the camera keeps publishing between physics chunks (``SimWorld``). One plan at a time;
cancel stops the arm within a control period.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from roborefer_ros.action import ExecuteSteps
from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.manipulation.steps import ExecutionResult, ExecutionStatus, Step
from roborefer_ros.ros.conversions import depth_to_image, rgb_to_image, time_msg, transform_to_msg
from roborefer_ros.ros.goals import end_goal, log_outcome
from roborefer_ros.ros.sim.messages import PlanMessageError, plan_from_goal, result_msg
from roborefer_ros.ros.sim.params import SimNodeConfig, declare_and_read
from roborefer_ros.ros.tf import TF_QOS, TF_STATIC_QOS
from roborefer_ros.sim import BASE_FRAME, T_LINK_FROM_OPTICAL
from roborefer_ros.sim.episodes.live import KeyFrameWriter, SimSnapshot, SimWorld

COLOR_TOPIC = "color/image_raw"
INFO_TOPIC = "color/camera_info"
DEPTH_TOPIC = "aligned_depth_to_color/image_raw"  # realsense2_camera's name for aligned depth


def camera_info_msg(camera: CameraModel, header: Header) -> CameraInfo:
    info = CameraInfo(
        header=header,
        width=camera.width,
        height=camera.height,
        distortion_model=camera.distortion_model,
    )
    info.k = [float(x) for x in camera.k.ravel()]
    info.p = [float(x) for x in camera.p.ravel()]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.d = [float(x) for x in camera.d]
    return info


class SimNode(Node):
    def __init__(self, node_name: str = "sim_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.cfg: SimNodeConfig = declare_and_read(self)  # ValueError: refuse to start
        # Reliable matches reliable and best-effort (sensor QoS) subscribers alike.
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self._pub_color = self.create_publisher(Image, COLOR_TOPIC, qos)
        self._pub_depth = self.create_publisher(Image, DEPTH_TOPIC, qos)
        self._pub_info = self.create_publisher(CameraInfo, INFO_TOPIC, qos)
        self._pub_tf = self.create_publisher(TFMessage, "/tf", TF_QOS)
        self._pub_tf_static = self.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
        self._pub_clock = (
            self.create_publisher(Clock, "/clock", 10) if self.cfg.publish_clock else None
        )
        self._static_sent = False
        self._busy = threading.Lock()
        self.world = SimWorld(
            self.cfg.seed,
            self.cfg.robot,
            rate_hz=self.cfg.rate_hz,
            realtime=self.cfg.realtime,
            width=self.cfg.width,
            height=self.cfg.height,
            sink=self._publish,
        )
        self._group = ReentrantCallbackGroup()
        # The server before the first frame: a graph that sees the camera sees the arm too.
        self._server = ActionServer(
            self,
            ExecuteSteps,
            "~/execute_steps",
            execute_callback=self._execute,
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=self._group,
        )
        self.world.start()  # SimError: refuse to start
        self.get_logger().info(
            f"seed {self.cfg.seed}, robot {self.cfg.robot}: publishing "
            f"{self.resolve_topic_name(COLOR_TOPIC)}, {self.resolve_topic_name(DEPTH_TOPIC)}, "
            f"{self.resolve_topic_name(INFO_TOPIC)} at {self.cfg.rate_hz:g} Hz; serving "
            f"{self.resolve_topic_name('~/execute_steps')}"
        )

    def destroy_node(self) -> None:
        self.world.close()
        self._server.destroy()
        super().destroy_node()

    # ----- publishing (on the sim thread) ------------------------------------------------------
    def _stamp_ns(self, snapshot: SimSnapshot) -> int:
        if self._pub_clock is not None:
            return round(snapshot.sim_time_s * 1e9)
        return int(self.get_clock().now().nanoseconds)

    def _publish(self, snapshot: SimSnapshot) -> None:
        if not self.context.ok():
            return  # shutting down (Ctrl-C): the sim thread stops at its next look
        try:
            self._publish_snapshot(snapshot)
        except Exception:
            if self.context.ok():
                raise

    def _publish_snapshot(self, snapshot: SimSnapshot) -> None:
        cfg = self.cfg
        stamp = self._stamp_ns(snapshot)
        if self._pub_clock is not None:
            self._pub_clock.publish(Clock(clock=time_msg(stamp)))
        if not self._static_sent:
            static = [
                StampedTransform(
                    cfg.base_frame, cfg.camera_link_frame, stamp, snapshot.T_base_from_link
                ),
                StampedTransform(
                    cfg.camera_link_frame, cfg.camera_optical_frame, stamp, T_LINK_FROM_OPTICAL
                ),
                *self._robot_frames(stamp),
            ]
            self._pub_tf_static.publish(TFMessage(transforms=[transform_to_msg(t) for t in static]))
            self._static_sent = True
        objects = [
            transform_to_msg(
                StampedTransform(cfg.base_frame, cfg.object_frame_prefix + name, stamp, pose)
            )
            for name, pose in snapshot.object_poses
        ]
        self._pub_tf.publish(TFMessage(transforms=objects))
        header = Header(frame_id=cfg.camera_optical_frame, stamp=time_msg(stamp))
        if cfg.depth_encoding == "16UC1":
            depth = depth_to_image(encode_depth(snapshot.depth_m), header, "16UC1")
        else:
            depth = depth_to_image(snapshot.depth_m, header, "32FC1")
        self._pub_info.publish(camera_info_msg(snapshot.camera, header))
        self._pub_depth.publish(depth)
        self._pub_color.publish(rgb_to_image(snapshot.rgb, header))

    def _robot_frames(self, stamp: int) -> list[StampedTransform]:
        """Fixed frames of the robot that plans may be given in (the G1's torso_link)."""
        if self.cfg.robot != "g1":
            return []
        from roborefer_ros.sim.robots.g1 import PLAN_FRAME, T_base_from_torso

        return [StampedTransform(self.cfg.base_frame, PLAN_FRAME, stamp, T_base_from_torso())]

    # ----- the action --------------------------------------------------------------------------
    def _execute(self, goal_handle: Any) -> Any:
        if not self._busy.acquire(blocking=False):
            result = ExecutionResult(ExecutionStatus.REJECTED, "busy: another plan is running")
        else:
            try:
                result = self._run(goal_handle)
            except Exception as err:  # a bug: never let it reach the executor
                self.get_logger().error(f"ExecuteSteps failed unexpectedly: {err!r}")
                result = ExecutionResult(
                    ExecutionStatus.EXECUTION_FAILED, f"{type(err).__name__}: {err}"
                )
            finally:
                self._busy.release()
        line = f"ExecuteSteps {result.status.name}: {result.message}"
        log_outcome(self.get_logger(), result.success, line)
        end_goal(
            goal_handle,
            succeeded=result.success,
            cancelled=result.status is ExecutionStatus.CANCELED,
        )
        return result_msg(result)

    def _run(self, goal_handle: Any) -> ExecutionResult:
        try:
            plan = plan_from_goal(goal_handle.request)
        except PlanMessageError as err:
            return ExecutionResult(ExecutionStatus.REJECTED, str(err))
        if plan.frame == self.cfg.base_frame:  # the scene's own name of the base
            plan = dataclasses.replace(plan, frame=BASE_FRAME)

        def on_step(index: int, step: Step) -> None:
            goal_handle.publish_feedback(
                ExecuteSteps.Feedback(step_index=index, step_label=step.label)
            )

        writer = KeyFrameWriter(self.cfg.frames_dir) if self.cfg.frames_dir else None
        try:
            return self.world.execute(
                plan, on_step, lambda: bool(goal_handle.is_cancel_requested), writer
            )
        finally:
            if writer is not None:
                writer.close()
