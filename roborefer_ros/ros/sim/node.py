"""sim_node: the MuJoCo tabletop as a robot and a RealSense on a live graph.

Publishes, namespace-relative like realsense2_camera (remap or push into a camera namespace):
``color/image_raw`` (rgb8), ``aligned_depth_to_color/image_raw`` (16UC1 mm or 32FC1 m) and
``color/camera_info`` at ``rate_hz``; ``base_link -> camera_link -> camera_color_optical_frame``
once on /tf_static (the camera is static: the scene's, for the G1 its head camera; the G1 adds
``base_link -> torso_link``, its plan frame); every object as ``object/<name>`` on /tf with each
frame (where the robot left it); optionally /clock from the physics time. The arm, with real
contacts, while the camera keeps publishing between physics chunks (``SimWorld``):

- the UR5e cell speaks its drivers' interfaces (``ros.sim.ur_driver``): /joint_states, the
  flange on /tf, FollowJointTrajectory and the Robotiq GripperCommand; MoveIt (on the simulated
  cell, sim_move_group) plans for it;
- the G1 speaks unitree_ros2's (``ros.sim.g1_driver``): /lowstate at 500 Hz of simulated time,
  the Dex3 states, /arm_sdk with its weight blend and the Dex3 commands, applied by the motors'
  PD laws in physics between commands (``sim.arms.g1_lowlevel``); the world runs it at
  wall-clock speed and renders the camera on a thread of its own, so a frame never pauses the
  state stream. The arm bridge (pick_place_node's ``g1`` backend) drives it as it drives the
  robot.
"""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.manipulation.g1.hands import load_hand_limits
from roborefer_ros.manipulation.g1.kinematics import ArmSide
from roborefer_ros.ros.conversions import depth_to_image, rgb_to_image, time_msg, transform_to_msg
from roborefer_ros.ros.sim.g1_driver import (
    ARM_SDK_TOPIC,
    LOWSTATE_TOPIC,
    G1KeyFrames,
    SimG1Driver,
)
from roborefer_ros.ros.sim.params import SimNodeConfig, declare_and_read
from roborefer_ros.ros.sim.ur_driver import GRIPPER_ACTION, TRAJECTORY_ACTION, SimUrDriver
from roborefer_ros.ros.tf import TF_QOS, TF_STATIC_QOS
from roborefer_ros.sim import T_LINK_FROM_OPTICAL
from roborefer_ros.sim.arms.g1_lowlevel import G1LowLevel
from roborefer_ros.sim.episodes.live import SimSnapshot, SimWorld
from roborefer_ros.sim.episodes.strip import KeyFrameWriter

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
        self._g1: SimG1Driver | None = None
        g1 = self.cfg.robot == "g1"
        self.world = SimWorld(
            self.cfg.seed,
            self.cfg.robot,
            rate_hz=self.cfg.rate_hz,
            realtime=self.cfg.realtime,
            width=self.cfg.width,
            height=self.cfg.height,
            sink=self._publish,
            streaming=G1LowLevel if g1 else None,
            on_period=self._on_period if g1 else None,
        )
        # The arm's interfaces before the first frame: a graph that sees the camera sees the arm.
        self._driver: SimUrDriver | None = None
        if self.cfg.robot == "ur5e":  # the UR cell's driver interfaces (MoveIt plans for it)
            self._driver = SimUrDriver(
                self,
                self.world,
                self.cfg.base_frame,
                stamp_of=self._stamp_of_sim_time,
                frames_dir=self.cfg.frames_dir,
            )
            arm = f"{TRAJECTORY_ACTION} and {GRIPPER_ACTION}"
        elif g1:  # the G1's unitree_ros2 interfaces (the arm bridge drives them)
            key_frames = (
                G1KeyFrames(
                    KeyFrameWriter(self.cfg.frames_dir),
                    {side: load_hand_limits(side) for side in ArmSide},
                )
                if self.cfg.frames_dir
                else None
            )
            self._g1 = SimG1Driver(self, self.world, key_frames)
            self._g1.publish_state = self.cfg.g1_publish_lowstate
            self.add_post_set_parameters_callback(self._on_parameters)
            arm = f"{LOWSTATE_TOPIC}, {ARM_SDK_TOPIC} and the Dex3 topics"
        else:
            arm = "no arm"
        self.world.start()  # SimError: refuse to start
        self.get_logger().info(
            f"seed {self.cfg.seed}, robot {self.cfg.robot}: publishing "
            f"{self.resolve_topic_name(COLOR_TOPIC)}, {self.resolve_topic_name(DEPTH_TOPIC)}, "
            f"{self.resolve_topic_name(INFO_TOPIC)} at {self.cfg.rate_hz:g} Hz; serving {arm}"
        )

    @property
    def executor_threads(self) -> int:
        """Threads the node's executor needs: the UR cell's action servers block while a
        trajectory runs (4); the G1's interfaces are topics only (1). rclpy's multi-threaded
        executor busy-loops under steady input: in the G1 cell it held the GIL for ~60 % of the
        samples and paused the 500 Hz physics thread for up to 0.5 s."""
        return 4 if self._driver is not None else 1

    def destroy_node(self) -> None:
        # Any may be absent when __init__ refused the configuration.
        world = getattr(self, "world", None)
        drivers = (getattr(self, "_driver", None), getattr(self, "_g1", None))
        if world is not None:
            world.close()
        for driver in drivers:
            if driver is not None:
                driver.destroy()
        super().destroy_node()

    # ----- publishing (on the sim thread) ------------------------------------------------------
    def _stamp_ns(self, snapshot: SimSnapshot) -> int:
        return self._stamp_of_sim_time(snapshot.sim_time_s)

    def _stamp_of_sim_time(self, sim_time_s: float) -> int:
        """The physics time when publishing /clock, else the wall clock (now)."""
        if self._pub_clock is not None:
            return round(sim_time_s * 1e9)
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
        if self._g1 is not None and self._g1.key_frames is not None:
            self._g1.key_frames.saw(snapshot)
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

    # ----- the G1 ---------------------------------------------------------------------------
    def _on_period(self, robot: G1LowLevel) -> None:
        """After every physics step of the streaming G1 (the sim thread, the lock held)."""
        if self._g1 is not None:
            self._g1.on_period(robot)

    def _on_parameters(self, parameters: list[Parameter[Any]]) -> None:
        for parameter in parameters:
            if parameter.name == "g1_publish_lowstate" and self._g1 is not None:
                self._g1.publish_state = bool(parameter.value)
