"""Transforms at a stamp: tf2_ros when it is installed, the project's own buffer otherwise.

Both listeners receive /tf and /tf_static on their own executor thread, so a request waiting for a
transform never blocks the callbacks that would deliver it.
"""

from __future__ import annotations

from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import TransformBuffer, TransformError
from roborefer_ros.core.transforms import Transform
from roborefer_ros.ros.conversions import transform_from_msg
from roborefer_ros.ros.spin_thread import SpinThread

TF_QOS = QoSProfile(
    depth=100, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE
)
TF_STATIC_QOS = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


JUMP_BACK_NS = 1_000_000_000  # a /tf stamp this far behind the newest one is a jump back in time


def tf2_ros_available() -> bool:
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


class OwnTransformListener:
    """``TransformLookup`` over the project's TransformBuffer, fed from /tf and /tf_static."""

    backend_name = "roborefer_ros.core.tf_buffer"

    def __init__(self, node_name: str, cache_time_s: float = 10.0, context: Any = None) -> None:
        from tf2_msgs.msg import TFMessage  # the stand-in from interfaces/ where ROS lacks it

        self.buffer = TransformBuffer(cache_time_s=cache_time_s)
        self._newest_ns = 0
        self._spin = SpinThread(f"{node_name}_tf_listener", context=context)
        self._spin.node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
        self._spin.node.create_subscription(
            TFMessage, "/tf_static", self._on_tf_static, TF_STATIC_QOS
        )

    def _on_tf(self, msg: Any) -> None:
        for t in msg.transforms:
            stamped = transform_from_msg(t)
            if stamped.stamp_ns < self._newest_ns - JUMP_BACK_NS:
                # time jumped back (a looping bag, a reset simulation): as tf2 does, forget the
                # dynamic transforms of the old timeline; static ones stay valid
                self.buffer.clear(keep_static=True)
                self._newest_ns = 0
            self._newest_ns = max(self._newest_ns, stamped.stamp_ns)
            self.buffer.set_transform(stamped, authority="/tf")

    def _on_tf_static(self, msg: Any) -> None:
        for t in msg.transforms:
            self.buffer.set_transform(transform_from_msg(t), authority="/tf_static", is_static=True)

    def lookup(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        try:
            return self.buffer.wait_for_transform(target_frame, source_frame, stamp_ns, timeout_s)
        except TransformError as err:  # named like Tf2RosListener's: frames, stamp, then why
            raise RefPointError(
                Status.TF_ERROR,
                f"{target_frame} <- {source_frame} at {stamp_ns * 1e-9:.3f} s: {err.message}",
            ) from None

    def close(self) -> None:
        self._spin.close()


class Tf2RosListener:
    """``TransformLookup`` over tf2_ros (a normal ROS 2 install)."""

    backend_name = "tf2_ros"

    def __init__(self, node_name: str, cache_time_s: float = 10.0, context: Any = None) -> None:
        import tf2_ros
        from rclpy.duration import Duration

        self._tf2 = tf2_ros
        self._spin = SpinThread(f"{node_name}_tf_listener", context=context)
        self.buffer = tf2_ros.Buffer(
            cache_time=Duration(seconds=cache_time_s), node=self._spin.node
        )
        self._listener = tf2_ros.TransformListener(self.buffer, self._spin.node, spin_thread=False)

    def lookup(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            # The listener spins its own thread, so tf2's blocking wait can be woken.
            msg = self.buffer.lookup_transform(
                target_frame,
                source_frame,
                Time(nanoseconds=stamp_ns),
                timeout=Duration(seconds=timeout_s),
            )
        except self._tf2.TransformException as err:
            raise RefPointError(
                Status.TF_ERROR,
                f"{target_frame} <- {source_frame} at {stamp_ns * 1e-9:.3f} s "
                f"(waited up to {timeout_s} s): {err}",
            ) from None
        t, q = msg.transform.translation, msg.transform.rotation
        return Transform((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def close(self) -> None:
        self._spin.close()


def make_transform_listener(node_name: str, prefer: str = "auto", context: Any = None) -> Any:
    """tf2_ros when importable (or asked for), else the project's own listener."""
    if prefer == "own" or (prefer == "auto" and not tf2_ros_available()):
        return OwnTransformListener(node_name, context=context)
    return Tf2RosListener(node_name, context=context)
