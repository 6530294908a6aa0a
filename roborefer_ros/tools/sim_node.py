"""``roborefer-sim-node`` / ``ros2 run roborefer_ros sim_node``: run the MuJoCo simulation node.

Exit codes: 0 after Ctrl-C, 2 when the node cannot start (a bad argument, a parameter of the
wrong type or out of range, a scene it cannot build), named in one line on stderr.
"""

from __future__ import annotations

import sys

from roborefer_ros.tools.node_cli import StartError, fail, init_rclpy, parse_node_args

PROG = "sim_node"
DESCRIPTION = (
    "The MuJoCo tabletop as a robot cell: a RealSense-like camera (color/image_raw, "
    "aligned_depth_to_color/image_raw, color/camera_info), TF, and the simulated robot's "
    "driver interfaces (the UR5e's trajectory and gripper actions, the G1's unitree_hg topics)."
)


def main(argv: list[str] | None = None) -> int:
    import rclpy

    from roborefer_ros.ros.sim.node import SimNode
    from roborefer_ros.ros.sim.params import SIM_NODE_PARAMETERS
    from roborefer_ros.ros.spin_thread import spin_until_shutdown
    from roborefer_ros.sim import SimError

    args = list(sys.argv if argv is None else argv)
    parse_node_args(PROG, DESCRIPTION, SIM_NODE_PARAMETERS, args[1:])
    try:
        init_rclpy(args)
    except StartError as err:
        return fail(PROG, str(err))
    try:
        node = SimNode()
    except (ValueError, SimError) as err:
        rclpy.try_shutdown()
        return fail(PROG, f"cannot start: {err}")
    except KeyboardInterrupt:  # Ctrl-C while the scene is built: nothing to clean up yet
        rclpy.try_shutdown()
        return 0
    return spin_until_shutdown(node, num_threads=node.executor_threads)


if __name__ == "__main__":
    raise SystemExit(main())
