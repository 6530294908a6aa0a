"""Nodes as processes and a client on the graph: what the tools (demo, bag evaluation,
benchmarks) and the live-graph tests run a graph with; also a synthetic camera publisher.

Real processes on an isolated ``ROS_DOMAIN_ID`` with ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``.
"""

from __future__ import annotations

import atexit
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage

from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.ros.conversions import depth_to_image, rgb_to_image, time_msg, transform_to_msg
from roborefer_ros.ros.spin_thread import SpinThread, Waited, wait_future
from roborefer_ros.ros.tf import TF_QOS, TF_STATIC_QOS
from roborefer_ros.sim.analytic_scene import T_LINK_FROM_OPTICAL, SyntheticScene


def ros_env(domain_id: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A child-process environment on the same isolated graph as this process."""
    env = dict(os.environ)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)  # let the child's python set its own paths
    env["ROS_DOMAIN_ID"] = str(domain_id)
    # This process's range when it set one (a benchmark on shared memory only), else localhost.
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = os.environ.get(
        "ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class NodeProcess:
    """A ROS node in its own process; stopped with SIGINT (like Ctrl-C), killed if it hangs."""

    def __init__(self, module: str, args: Sequence[str], domain_id: int, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=ros_env(domain_id),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        atexit.register(self._kill_if_alive)  # never leave a node behind a crashed test run

    def _kill_if_alive(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def last_words(self) -> str:
        """The node's own account of why it stopped, on one line: its last ERROR line or the
        one-line error of the executable ("refer_node: parameter ... is out of range"), else
        its last line."""
        lines = [line.strip() for line in self.log().splitlines() if line.strip()]
        errors = [
            line for line in lines if "[ERROR]" in line or line.split(":", 1)[0].isidentifier()
        ]
        said = (errors or lines or ["(no output)"])[-1]
        return said.split("]: ", 1)[-1] if "[ERROR]" in said else said

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)


def refer_node_args(
    name: str = "refer_node",
    params: dict[str, Any] | None = None,
    remaps: dict[str, str] | None = None,
) -> list[str]:
    args = ["--ros-args", "-r", f"__node:={name}"]
    for key, value in (params or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        args += ["-p", f"{key}:={value}"]
    for src, dst in (remaps or {}).items():
        args += ["-r", f"{src}:={dst}"]
    return args


class GraphClient:
    """An in-process node on its own executor thread, for test-side publishers and clients."""

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self._spin = SpinThread(name, context=self.context)
        self.node = self._spin.node

    def call(
        self, client: Any, request: Any, timeout_s: float = 10.0, resend_s: float | None = None
    ) -> Any:
        """The response to ``request``. ``resend_s``: send it again when unanswered this long
        (for an idempotent first call to a node process that has just started: discovery can
        report its service before the server has matched our response reader, and Fast DDS
        then drops the answer; seen in loaded suite runs)."""
        deadline = time.monotonic() + timeout_s
        while True:
            future = client.call_async(request)
            until = deadline if resend_s is None else min(deadline, time.monotonic() + resend_s)
            if wait_future(future, until, poll_s=0.002) is Waited.DONE:
                return future.result()
            client.remove_pending_request(future)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no response from {client.srv_name} within {timeout_s} s")

    def call_until_success(
        self,
        client: Any,
        request: Any,
        deadline_s: float,
        timeout_s: float = 15.0,
        resend_s: float | None = 8.0,
    ) -> Any:
        """Call again (0.3 s apart) while the answer is not a success, for up to ``deadline_s``
        (a freshly started graph: the first frame or transform is still on its way); the last
        response. An unanswered request is sent again after ``resend_s`` (``call``)."""
        deadline = time.monotonic() + deadline_s
        response = self.call(client, request, timeout_s, resend_s)
        while not response.success and time.monotonic() < deadline:
            time.sleep(0.3)
            response = self.call(client, request, timeout_s, resend_s)
        return response

    def wait_for_service(self, client: Any, timeout_s: float = 20.0) -> None:
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise TimeoutError(f"service {client.srv_name} did not appear within {timeout_s} s")

    def close(self) -> None:
        self._spin.close()
        rclpy.shutdown(context=self.context)


def _restamped(serialized: bytes, stamp_ns: int) -> bytes:
    """A serialized message whose first field is a std_msgs/Header, with another stamp."""
    buf = bytearray(serialized)
    order = "<" if buf[1] & 1 else ">"
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    struct.pack_into(f"{order}iI", buf, 4, sec, nanosec)
    return bytes(buf)


class ScenePublisher:
    """Publishes a SyntheticScene as a RealSense-like driver would: colour, aligned depth,
    camera_info (best-effort sensor QoS), the moving camera on /tf and the optical frame on
    /tf_static. Stamps are ``t0_ns + t``; ``published`` maps stamp -> scene time for ground truth.
    """

    def __init__(
        self,
        client: GraphClient,
        scene: SyntheticScene,
        rate_hz: float = 10.0,
        depth_encoding: str = "16UC1",
        namespace: str = "",
        t0_ns: int | None = None,
        publish_tf: bool = True,
        history_depth: int = 5,
    ) -> None:
        self.client, self.scene, self.rate_hz = client, scene, rate_hz
        self.depth_encoding = depth_encoding
        node = client.node
        prefix = f"{namespace.rstrip('/')}/" if namespace else ""
        # Reliable matches both best-effort and reliable subscribers. A reliable reader can still
        # miss a frame whose repair comes after ``history_depth`` newer frames (a loaded machine):
        # a test that needs every frame keeps a deeper history.
        qos = QoSProfile(depth=history_depth, reliability=ReliabilityPolicy.RELIABLE)
        self.pub_color = node.create_publisher(Image, f"{prefix}color/image_raw", qos)
        self.pub_depth = node.create_publisher(
            Image, f"{prefix}aligned_depth_to_color/image_raw", qos
        )
        self.pub_info = node.create_publisher(CameraInfo, f"{prefix}color/camera_info", qos)
        self.pub_tf = node.create_publisher(TFMessage, "/tf", TF_QOS)
        self.pub_tf_static = node.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
        self.publish_tf = publish_tf
        self.t0_ns = time.time_ns() if t0_ns is None else t0_ns
        self.published: dict[int, float] = {}
        self._static_frame: tuple[Any, Any] | None = None
        self._serialized: dict[str, tuple[bytes, bytes]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if publish_tf:
            static = StampedTransform(
                scene.link_frame, scene.optical_frame, self.t0_ns, T_LINK_FROM_OPTICAL
            )
            self.pub_tf_static.publish(TFMessage(transforms=[transform_to_msg(static)]))

    def _render(self, t_s: float) -> tuple[Any, Any]:
        """A static scene is rendered once (so a 30 Hz 1280x720 stream is cheap to publish)."""
        if self.scene.speed_mps != 0.0:
            return self.scene.render(t_s)
        if self._static_frame is None:
            self._static_frame = self.scene.render(t_s)
        rgb, depth_m = self._static_frame
        return rgb, depth_m.copy()  # callers may punch holes into the depth

    def _static_serialized(self, encoding: str) -> tuple[bytes, bytes]:
        """The static scene's colour and depth images, serialized (stamped 0), per encoding."""
        if encoding not in self._serialized:
            rgb, depth_m = self._render(0.0)
            header = Header(frame_id=self.scene.optical_frame)
            depth = depth_m if encoding == "32FC1" else encode_depth(depth_m)
            self._serialized[encoding] = (
                serialize_message(rgb_to_image(rgb, header)),
                serialize_message(depth_to_image(depth, header, encoding)),
            )
        return self._serialized[encoding]

    def camera_info(self, stamp_ns: int) -> CameraInfo:
        cam = self.scene.camera_model()
        info = CameraInfo(width=cam.width, height=cam.height, distortion_model=cam.distortion_model)
        info.header = Header(frame_id=self.scene.optical_frame, stamp=time_msg(stamp_ns))
        info.k = [float(x) for x in cam.k.ravel()]
        info.p = [float(x) for x in cam.p.ravel()]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.d = [0.0] * 5
        return info

    def publish_at(
        self,
        t_s: float,
        *,
        depth_encoding: str | None = None,
        hole_px: tuple[int, int, int, int] | None = None,
        zero_intrinsics: bool = False,
        depth_size: tuple[int, int] | None = None,
    ) -> int:
        """Publish TF then the frame for scene time ``t_s``; returns the stamp used.

        Faults for tests: ``depth_encoding`` other than 16UC1/32FC1 sends the 16-bit data under
        that name; ``hole_px`` = (u0, v0, u1, v1) zeroes a depth rectangle; ``zero_intrinsics``
        sends an all-zero camera_info first; ``depth_size`` = (w, h) crops the depth image.
        """
        stamp = self.t0_ns + round(t_s * 1e9)
        if self.publish_tf:
            moving = StampedTransform(
                self.scene.base_frame,
                self.scene.link_frame,
                stamp,
                self.scene.T_base_from_link(t_s),
            )
            self.pub_tf.publish(TFMessage(transforms=[transform_to_msg(moving)]))
        encoding = depth_encoding or self.depth_encoding
        faults = hole_px is not None or depth_size is not None or zero_intrinsics
        if self.scene.speed_mps == 0.0 and not faults and encoding in ("16UC1", "32FC1"):
            # A static scene: the same images every time, serialized once; only the stamps
            # change, so a 30 Hz 1280x720 stream costs the publisher a few copies per frame.
            color, depth_bytes = self._static_serialized(encoding)
            self.published[stamp] = t_s
            self.pub_info.publish(self.camera_info(stamp))
            self.pub_depth.publish(_restamped(depth_bytes, stamp))
            self.pub_color.publish(_restamped(color, stamp))
            return stamp
        rgb, depth_m = self._render(t_s)
        header = Header(frame_id=self.scene.optical_frame, stamp=time_msg(stamp))
        depth = depth_m if encoding == "32FC1" else encode_depth(depth_m)
        if hole_px is not None:
            u0, v0, u1, v1 = hole_px
            depth[v0:v1, u0:u1] = 0
        if depth_size is not None:
            depth = depth[: depth_size[1], : depth_size[0]]
        depth_msg = depth_to_image(depth, header, "32FC1" if encoding == "32FC1" else "16UC1")
        depth_msg.encoding = encoding
        info = self.camera_info(stamp)
        if zero_intrinsics:
            info.k = [0.0] * 9
            info.p = [0.0] * 12
        self.published[stamp] = t_s
        self.pub_info.publish(info)
        time.sleep(0.005)  # camera_info first: the pair takes the latest info
        self.pub_depth.publish(depth_msg)
        self.pub_color.publish(rgb_to_image(rgb, header))
        return stamp

    def start(self, duration_s: float = 3600.0) -> None:
        def run() -> None:
            period = 1.0 / self.rate_hz
            t_s = 0.0
            next_wall = time.monotonic()
            while not self._stop.is_set() and t_s <= duration_s:
                self.publish_at(t_s)
                t_s += period
                next_wall += period
                self._stop.wait(max(0.0, next_wall - time.monotonic()))

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
