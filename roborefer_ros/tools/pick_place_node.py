"""``roborefer-pick-place-node`` / ``ros2 run roborefer_ros pick_place_node``: run the
pick-and-place node."""

from __future__ import annotations

import sys

import rclpy
from rclpy.signals import SignalHandlerOptions

from roborefer_ros.ros.pick_place.node import DRAIN_S, PickPlaceNode
from roborefer_ros.ros.spin_thread import spin_until_signal


def main(argv: list[str] | None = None) -> int:
    # Our own SIGINT/SIGTERM handling (spin_until_signal): a goal in flight gets an answer.
    rclpy.init(
        args=sys.argv if argv is None else argv, signal_handler_options=SignalHandlerOptions.NO
    )
    try:
        node = PickPlaceNode()
    except ValueError as err:
        print(f"pick_place_node: configuration rejected: {err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    except KeyboardInterrupt:  # Ctrl-C while starting: nothing in flight to answer
        rclpy.try_shutdown()
        return 0
    return spin_until_signal(node, num_threads=6, drain_s=DRAIN_S)


if __name__ == "__main__":
    raise SystemExit(main())
