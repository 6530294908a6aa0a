"""Transforms at a stamp: tf2_ros when it is installed, the project's own buffer otherwise.

Both listeners receive /tf and /tf_static on their own executor thread, so a request waiting for a
transform never blocks the callbacks that would deliver it.

The project's own listener treats input as tf2 does: each transform of a message is checked on
its own (``core.tf_buffer.checked_transform``); a bad one is logged (at most once per
``BAD_TRANSFORM_LOG_PERIOD_S`` per parent/child pair, with a count of the ones held back) and
skipped, and the rest of the message and every later message are applied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import BadTransformError, TransformBuffer, TransformError
from roborefer_ros.core.transforms import Transform
from roborefer_ros.ros.conversions import transform_from_msg
from roborefer_ros.ros.spin_thread import SpinThread
from roborefer_ros.ros.take_loop import TakeLoop

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
BAD_TRANSFORM_LOG_PERIOD_S = 5.0


class LogThrottle:
    """At most one line per key per ``period_s``; counts the lines held back meanwhile."""

    def __init__(self, period_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.period_s, self._clock = period_s, clock
        self._last: dict[object, float] = {}
        self._held: dict[object, int] = {}
        self._lock = threading.Lock()

    def due(self, key: object) -> int | None:
        """None: stay quiet; else log now, the number returned were held back since the last."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)


def tf2_ros_available() -> bool:
    try:
        import tf2_ros  # noqa: F401
    except ImportError:
        return False
    return True


class OwnTransformListener:
    """``TransformLookup`` over the project's TransformBuffer, fed from /tf and /tf_static."""

    backend_name = "roborefer_ros.core.tf_buffer"

    def __init__(
        self,
        node_name: str,
        cache_time_s: float = 10.0,
        context: Any = None,
        **node_kwargs: Any,
    ) -> None:
        from tf2_msgs.msg import TFMessage  # the stand-in from interfaces/ where ROS lacks it

        self.buffer = TransformBuffer(cache_time_s=cache_time_s)
        self._newest_ns = 0
        self.skipped = 0  # bad transforms refused so far
        self._throttle = LogThrottle(BAD_TRANSFORM_LOG_PERIOD_S)
        # One plain thread takes /tf as it comes (no executor: a fifth of the CPU at 30 Hz).
        self._spin = TakeLoop(f"{node_name}_tf_listener", context=context, **node_kwargs)
        self._spin.subscribe(TFMessage, "/tf", self._on_tf, TF_QOS)
        self._spin.subscribe(TFMessage, "/tf_static", self._on_tf_static, TF_STATIC_QOS)

    def _on_tf(self, msg: Any) -> None:
        for t in msg.transforms:
            try:
                stamped = transform_from_msg(t)
            except BadTransformError as err:
                self._skip("/tf", t, err)
                continue
            if stamped.stamp_ns < self._newest_ns - JUMP_BACK_NS:
                # time jumped back (a looping bag, a reset simulation): as tf2 does, forget the
                # dynamic transforms of the old timeline; static ones stay valid
                self.buffer.clear(keep_static=True)
                self._newest_ns = 0
            self._newest_ns = max(self._newest_ns, stamped.stamp_ns)
            self.buffer.set_transform(stamped, authority="/tf")

    def _on_tf_static(self, msg: Any) -> None:
        for t in msg.transforms:
            try:
                stamped = transform_from_msg(t)
            except BadTransformError as err:
                self._skip("/tf_static", t, err)
                continue
            self.buffer.set_transform(stamped, authority="/tf_static", is_static=True)

    def _skip(self, topic: str, msg: Any, err: BadTransformError) -> None:
        self.skipped += 1
        held = self._throttle.due((topic, str(msg.header.frame_id), str(msg.child_frame_id)))
        if held is not None:
            more = f" ({held} more like it skipped since the last report)" if held else ""
            self._spin.node.get_logger().warning(f"skipped a transform on {topic}: {err}{more}")

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

    def __init__(
        self,
        node_name: str,
        cache_time_s: float = 10.0,
        context: Any = None,
        **node_kwargs: Any,
    ) -> None:
        import tf2_ros
        from rclpy.duration import Duration

        self._tf2 = tf2_ros
        self._spin = SpinThread(f"{node_name}_tf_listener", context=context, **node_kwargs)
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


def make_transform_listener(
    node_name: str, prefer: str = "auto", context: Any = None, **node_kwargs: Any
) -> Any:
    """tf2_ros when importable (or asked for), else the project's own listener. ``node_kwargs``
    go to the listener's private node (``spin_thread.private_node_kwargs``)."""
    if prefer == "own" or (prefer == "auto" and not tf2_ros_available()):
        return OwnTransformListener(node_name, context=context, **node_kwargs)
    return Tf2RosListener(node_name, context=context, **node_kwargs)
