"""TakeLoop: one plain thread serves a private node's subscriptions (no executor); a callback
that raises is logged and the next message is still delivered; close ends the thread."""

from __future__ import annotations

import threading
import time

import pytest
import rclpy
from rclpy.context import Context
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from roborefer_ros.ros.graph import GraphClient
from roborefer_ros.ros.take_loop import TakeLoop

pytestmark = pytest.mark.graph
QOS = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)


def test_messages_reach_the_callback_and_an_exception_does_not_stop_the_loop(
    graph: GraphClient,
) -> None:
    context = Context()
    rclpy.init(context=context)
    loop = TakeLoop("take_loop_test", context=context)
    got: list[str] = []
    arrived = threading.Event()

    def on_message(msg: String) -> None:
        if msg.data == "bad":
            raise ValueError("a bad message")
        got.append(msg.data)
        if msg.data == "last":
            arrived.set()

    try:
        loop.subscribe(String, "/take_loop_test", on_message, QOS)
        pub = graph.node.create_publisher(String, "/take_loop_test", QOS)
        deadline = time.monotonic() + 10.0
        while pub.get_subscription_count() < 1:
            assert time.monotonic() < deadline, "never subscribed"
            time.sleep(0.02)
        time.sleep(0.3)
        for data in ("first", "bad", "second", "last"):
            pub.publish(String(data=data))
        assert arrived.wait(5.0)
        assert got == ["first", "second", "last"]
        assert loop.callback_errors == 1 and loop.alive
    finally:
        loop.close()
        rclpy.shutdown(context=context)
    assert not loop.alive
