"""``roborefer-node`` / ``ros2 run roborefer_ros refer_node``: run the refer node."""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor


def main(argv: list[str] | None = None) -> int:
    from roborefer_ros.ros.refer_node import ReferNode

    rclpy.init(args=sys.argv if argv is None else argv)
    node = ReferNode()
    # Enough threads that admitted requests (bounded by max_pending_requests) never starve the
    # camera callbacks; TF has its own thread.
    threads = int(node.get_parameter("max_pending_requests").value) + 4
    executor = MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
