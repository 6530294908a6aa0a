"""``roborefer-node`` / ``ros2 run roborefer_ros refer_node``: run the refer node."""

from __future__ import annotations

import sys

import rclpy


def main(argv: list[str] | None = None) -> int:
    from roborefer_ros.ros.refer_node import ReferNode
    from roborefer_ros.ros.spin_thread import spin_until_shutdown

    rclpy.init(args=sys.argv if argv is None else argv)
    node = ReferNode()
    # A thread for every admitted request (max_pending_requests) plus the action, timers and
    # parameter services; the camera streams and TF have threads of their own.
    threads = int(node.get_parameter("max_pending_requests").value) + 4
    return spin_until_shutdown(node, threads)


if __name__ == "__main__":
    raise SystemExit(main())
