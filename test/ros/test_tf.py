"""The project's own TF listener on a live graph: bad transforms on /tf and /tf_static are logged
and skipped, the rest of their message and every later message are applied, and the listener's
thread lives on (it used to die on the first bad transform, so later transforms were never seen).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator

import pytest
import rclpy
from geometry_msgs.msg import TransformStamped
from rclpy.context import Context
from tf2_msgs.msg import TFMessage

from roborefer_ros.core.status import RefPointError
from roborefer_ros.ros.conversions import time_msg
from roborefer_ros.ros.graph import GraphClient
from roborefer_ros.ros.tf import TF_QOS, TF_STATIC_QOS, LogThrottle, OwnTransformListener

S = 1_000_000_000


def _tf(
    parent: str,
    child: str,
    stamp_ns: int,
    x: float = 0.0,
    quat_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
) -> TransformStamped:
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = parent, child
    msg.header.stamp = time_msg(stamp_ns)
    msg.transform.translation.x = x
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = quat_xyzw
    return msg


def _bad(stamp_ns: int) -> list[TransformStamped]:
    """One of each kind tf2 refuses (a leading slash alone is fixed, not refused)."""
    return [
        _tf("world", "zero_quat", stamp_ns, quat_xyzw=(0.0, 0.0, 0.0, 0.0)),
        _tf("world", "half_quat", stamp_ns, quat_xyzw=(0.0, 0.0, 0.5, 0.0)),
        _tf("world", "nan", stamp_ns, x=math.nan),
        _tf("world", "", stamp_ns),
        _tf("loop", "loop", stamp_ns),
    ]


@pytest.fixture
def listener() -> Iterator[OwnTransformListener]:
    context = Context()
    rclpy.init(context=context)
    own = OwnTransformListener(f"tf_test_{os.getpid()}", context=context)
    yield own
    own.close()
    rclpy.shutdown(context=context)


def _lookup_x(listener: OwnTransformListener, child: str, stamp_ns: int, timeout_s: float) -> float:
    return listener.lookup("world", child, stamp_ns, timeout_s).translation[0]


@pytest.mark.graph
def test_bad_transforms_are_skipped_and_the_next_good_one_is_used(
    listener: OwnTransformListener, graph: GraphClient
) -> None:
    tf = graph.node.create_publisher(TFMessage, "/tf", TF_QOS)
    tf_static = graph.node.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
    deadline = time.monotonic() + 10.0
    while tf.get_subscription_count() < 1 or tf_static.get_subscription_count() < 1:
        assert time.monotonic() < deadline, "the listener never subscribed"
        time.sleep(0.05)
    t0 = time.time_ns()

    # A message of bad transforms only, then one with bad ones around a good one.
    tf.publish(TFMessage(transforms=_bad(t0)))
    tf.publish(TFMessage(transforms=[*_bad(t0), _tf("world", "camera", t0, x=1.0), *_bad(t0)]))
    assert _lookup_x(listener, "camera", t0, 5.0) == pytest.approx(1.0)

    # Later messages still arrive: the listener's thread survived; a leading slash is stripped.
    tf.publish(TFMessage(transforms=[_tf("/world", "/camera", t0 + S, x=2.0)]))
    assert _lookup_x(listener, "camera", t0 + S, 5.0) == pytest.approx(2.0)
    # /tf_static the same way.
    tf_static.publish(TFMessage(transforms=[*_bad(t0), _tf("world", "mount", t0, x=3.0)]))
    assert _lookup_x(listener, "mount", 0, 5.0) == pytest.approx(3.0)

    assert listener.skipped == 4 * len(_bad(t0))  # 1 + 2 on /tf, 1 on /tf_static
    for frame in ("zero_quat", "half_quat", "nan", "loop"):  # none was stored
        with pytest.raises(RefPointError, match="does not exist"):
            listener.lookup("world", frame, t0, 0.0)


def test_a_log_throttle_reports_each_key_once_per_period_with_a_count() -> None:
    now = [0.0]
    throttle = LogThrottle(5.0, clock=lambda: now[0])
    assert throttle.due("a") == 0  # the first report
    assert throttle.due("a") is None and throttle.due("a") is None  # held back
    assert throttle.due("b") == 0  # another key is reported at once
    now[0] = 5.0
    assert throttle.due("a") == 2  # then it says how many it held back
    assert throttle.due("a") is None
