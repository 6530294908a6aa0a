"""``roborefer-node`` / ``ros2 run roborefer_ros refer_node``: run the refer node."""

from __future__ import annotations

import sys

import rclpy
from rclpy.signals import SignalHandlerOptions

DRAIN_S = 3.0  # on SIGINT/SIGTERM: how long requests in flight get to be answered (CANCELED)


def main(argv: list[str] | None = None) -> int:
    from roborefer_ros.ros.refer.node import ReferNode
    from roborefer_ros.ros.spin_thread import spin_until_signal

    # Our own SIGINT/SIGTERM handling (spin_until_signal): callers in flight get an answer.
    rclpy.init(
        args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO
    )
    try:
        node = ReferNode()
    except KeyboardInterrupt:  # Ctrl-C while the model loads: nothing in flight to answer
        rclpy.try_shutdown()
        return 0
    # A thread for every admitted request (max_pending_requests) plus the action, timers and
    # parameter services; the camera streams and TF have threads of their own.
    threads = int(node.get_parameter("max_pending_requests").value) + 4
    return spin_until_signal(node, threads, DRAIN_S)


if __name__ == "__main__":
    raise SystemExit(main())
