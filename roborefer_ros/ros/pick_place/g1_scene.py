"""The scene the G1 bridge checks its plans against: the head camera's newest depth frame.

As MoveIt's occupancy map monitor does, the g1 backend subscribes to the aligned depth image and
its camera_info itself (relative topics ``g1_depth_topic`` / ``g1_camera_info_topic``, remapped
like the refer node's) and looks up the camera in the plan frame by TF at the frame's stamp when
a plan starts. The frame must be younger than ``g1_scene_max_age_s``; without one (no camera, a
stale one, an unsupported encoding, no transform) the plan runs unchecked against the scene, as
before this check existed, and the reason is logged once per cause.

Callbacks keep the serialized bytes only (the listener's thread does nothing else); the newest
frame is decoded when a plan asks for it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.depth import depth_traits
from roborefer_ros.core.status import RefPointError
from roborefer_ros.manipulation.obstacles import DepthView
from roborefer_ros.ros.cdr_image import image_from_cdr
from roborefer_ros.ros.conversions import cdr_header_stamp_ns, image_to_depth

SCENE_QOS = QoSProfile(
    depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.BEST_EFFORT
)
TF_TIMEOUT_S = 0.2


class DepthScene:
    """The newest depth frame and camera_info, as a ``DepthView`` in the plan frame."""

    def __init__(
        self,
        listener_node: Any,
        depth_topic: str,
        info_topic: str,
        plan_frame: str,
        transforms: Any,
        max_age_s: float,
        logger: Any,
        clock_ns: Any = None,
    ) -> None:
        """``transforms``: a ``TransformLookup`` (``ros.tf``); ``clock_ns``: the node's time in
        ns (the stamps' clock; default the system clock)."""
        from sensor_msgs.msg import CameraInfo, Image

        self._info_type = CameraInfo
        self.plan_frame = plan_frame
        self.transforms = transforms
        self.max_age_s = max_age_s
        self.logger = logger
        self.clock_ns = clock_ns or time.time_ns
        self._lock = threading.Lock()
        self._depth: bytes | None = None
        self._info: bytes | None = None
        self._said: set[str] = set()
        self.subscriptions = [
            listener_node.create_subscription(
                Image, depth_topic, self._on_depth, SCENE_QOS, raw=True
            ),
            listener_node.create_subscription(
                CameraInfo, info_topic, self._on_info, SCENE_QOS, raw=True
            ),
        ]

    def _on_depth(self, data: bytes) -> None:
        with self._lock:
            self._depth = data

    def _on_info(self, data: bytes) -> None:
        with self._lock:
            self._info = data

    def _skip(self, why: str) -> None:
        if why not in self._said:
            self._said.add(why)
            self.logger.warning(f"plans run unchecked against the scene: {why}")

    def view(self) -> DepthView | None:
        """The newest frame in the plan frame, or None (the reason logged once)."""
        with self._lock:
            depth_data, info_data = self._depth, self._info
        if depth_data is None or info_data is None:
            self._skip("no depth frame or camera_info received yet")
            return None
        stamp = cdr_header_stamp_ns(depth_data)
        age_s = (self.clock_ns() - stamp) * 1e-9
        if age_s > self.max_age_s:
            self._skip(f"the newest depth frame is {age_s:.1f} s old (> {self.max_age_s:g} s)")
            return None
        try:
            image = image_from_cdr(depth_data)
            raw = image_to_depth(image)
            depth_m = depth_traits(image.encoding).to_metres(raw)
            camera = CameraModel.from_camera_info(deserialize_message(info_data, self._info_type))
            camera_frame = image.header.frame_id or camera.frame_id
            T = self.transforms.lookup(self.plan_frame, camera_frame, stamp, TF_TIMEOUT_S)
        except RefPointError as err:
            self._skip(err.message)
            return None
        if depth_m.shape != (camera.height, camera.width):
            self._skip(
                f"depth is {depth_m.shape[1]}x{depth_m.shape[0]}, camera_info "
                f"{camera.width}x{camera.height}"
            )
            return None
        return DepthView(np.asarray(depth_m), camera, T, self.plan_frame)
