"""A private listener thread (SpinThread: TF, camera streams) outlives a callback that raises: the
error is logged and later messages are still delivered (the thread used to end silently)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import rclpy
from rclpy.context import Context
from std_msgs.msg import String

from roborefer_ros.ros.graph import GraphClient
from roborefer_ros.ros.spin_thread import SpinThread, private_node_kwargs


@pytest.fixture
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.mark.graph
def test_a_callback_that_raises_does_not_end_the_thread(
    context: Context, graph: GraphClient
) -> None:
    topic = f"/spin_thread_test_{os.getpid()}"
    seen: list[str] = []

    def callback(msg: String) -> None:
        if msg.data == "bad":
            raise ValueError("a bad message")
        seen.append(msg.data)

    listener = SpinThread(f"spin_thread_test_{os.getpid()}", context=context)
    try:
        listener.node.create_subscription(String, topic, callback, 10)
        publisher = graph.node.create_publisher(String, topic, 10)
        deadline = time.monotonic() + 10.0
        while publisher.get_subscription_count() < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for data in ("bad", "good", "bad", "later"):
            publisher.publish(String(data=data))
            time.sleep(0.05)
        deadline = time.monotonic() + 10.0
        while seen != ["good", "later"]:
            assert time.monotonic() < deadline, seen
            time.sleep(0.05)
        assert listener.alive and listener.callback_errors == 2
    finally:
        listener.close()
    assert not listener.alive


def test_a_listener_made_unstarted_spins_only_once_started(context: Context) -> None:
    """The CLI's node makes its action clients before it spins (rclpy's ActionClient is not
    ready for a spinning executor until its constructor returns)."""
    fired: list[float] = []
    listener = SpinThread(f"unstarted_{os.getpid()}", context=context, start=False)
    try:
        listener.node.create_timer(0.01, lambda: fired.append(time.monotonic()))
        time.sleep(0.2)
        assert not listener.alive and fired == []
        listener.start()
        deadline = time.monotonic() + 5.0
        while not fired:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert listener.alive
    finally:
        listener.close()
    never = SpinThread(f"never_started_{os.getpid()}", context=context, start=False)
    never.close()  # closing one never started is fine
    assert not never.alive


def test_a_private_node_keeps_the_parents_namespace_and_remaps_but_not_its_name(
    context: Context,
) -> None:
    """``-r __node:=refer_node`` given to the process renamed the private TF node to the
    parent's name too: rcl then warned "Publisher already registered" on every start."""
    from rclpy.node import Node

    parent = Node(
        "parent",
        namespace="/robot",
        context=context,
        cli_args=["--ros-args", "-r", "/tf:=/robot/tf"],
    )
    try:
        kwargs = private_node_kwargs(parent, ("/tf",))
        assert kwargs["use_global_arguments"] is False and kwargs["namespace"] == "/robot"
        child = Node("parent_tf_listener", context=context, **kwargs)
        try:
            assert child.get_fully_qualified_name() == "/robot/parent_tf_listener"
            assert child.resolve_topic_name("/tf") == "/robot/tf"
        finally:
            child.destroy_node()
    finally:
        parent.destroy_node()


_CTRL_C_BEFORE_THE_HANDLER = """
import signal, sys
import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from roborefer_ros.ros import spin_thread

rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
node = Node("ctrl_c_before_the_handler")
real = signal.signal
def interrupted(sig, handler):  # Ctrl-C lands while the handlers are being installed
    spin_thread.signal.signal = real
    raise KeyboardInterrupt
spin_thread.signal.signal = interrupted
code = spin_thread.spin_until_signal(node, 2, drain_s=0.1)
print("exit", code, "context ok", rclpy.ok())
"""


_CTRL_C_BEFORE_THE_STOP_EVENT = """
import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from roborefer_ros.ros import spin_thread

rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
node = Node("ctrl_c_before_the_stop_event")
real = spin_thread.threading.Event
def interrupted():  # Ctrl-C lands while the spin makes its stop event (seen in a CI run)
    spin_thread.threading.Event = real
    raise KeyboardInterrupt
spin_thread.threading.Event = interrupted
code = spin_thread.spin_until_signal(node, 2, drain_s=0.1)
print("exit", code, "context ok", rclpy.ok())
"""


@pytest.mark.parametrize(
    "script",
    [_CTRL_C_BEFORE_THE_HANDLER, _CTRL_C_BEFORE_THE_STOP_EVENT],
    ids=["installing-handlers", "making-the-stop-event"],
)
def test_ctrl_c_just_before_the_spin_handles_it_stops_cleanly(script: str) -> None:
    """A node whose 'active: serving' line was just printed, stopped at once (a launcher's
    Ctrl-C), died with a KeyboardInterrupt traceback and exit -2."""
    import subprocess
    import sys

    from roborefer_ros.ros.graph import ros_env

    done = subprocess.run(
        [sys.executable, "-c", script],
        env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exit 0 context ok False" in done.stdout, done.stdout + done.stderr[-2000:]
