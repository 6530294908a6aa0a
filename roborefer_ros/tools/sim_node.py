"""``roborefer-sim-node`` / ``ros2 run roborefer_ros sim_node``: run the MuJoCo simulation node."""

from __future__ import annotations

import sys

import rclpy

from roborefer_ros.ros.sim.node import SimNode
from roborefer_ros.ros.spin_thread import spin_until_shutdown
from roborefer_ros.sim import SimError


def main(argv: list[str] | None = None) -> int:
    rclpy.init(args=sys.argv if argv is None else argv)
    try:
        node = SimNode()
    except (ValueError, SimError) as err:
        print(f"sim_node: cannot start: {err}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    except KeyboardInterrupt:  # Ctrl-C while the scene is built: nothing to clean up yet
        rclpy.try_shutdown()
        return 0
    return spin_until_shutdown(node, num_threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
