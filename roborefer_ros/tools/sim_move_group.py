"""``roborefer-sim-move-group`` / ``ros2 run roborefer_ros sim_move_group``: the simulated UR5e
cell's move_group (simulation instrumentation: on a real cell, ur_moveit_config's move_group).

Exit codes: 0 after Ctrl-C, 2 when the node cannot start (a bad argument or parameter, no
moveit_msgs/control_msgs, a model it cannot build), named in one line on stderr.
"""

from __future__ import annotations

import sys

from roborefer_ros.tools.node_cli import StartError, fail, init_rclpy, parse_node_args

PROG = "sim_move_group"
DESCRIPTION = (
    "Simulation instrumentation: a move_group for sim_node's UR5e cell (move_action, "
    "compute_cartesian_path, execute_trajectory), executing through the cell's "
    "FollowJointTrajectory controller. Never part of a robot's bring-up."
)


def main(argv: list[str] | None = None) -> int:
    import rclpy

    from roborefer_ros.ros.sim.move_group.params import SIM_MOVE_GROUP_PARAMETERS
    from roborefer_ros.ros.spin_thread import spin_until_shutdown
    from roborefer_ros.sim import SimError

    args = list(sys.argv if argv is None else argv)
    parse_node_args(PROG, DESCRIPTION, SIM_MOVE_GROUP_PARAMETERS, args[1:])
    try:
        init_rclpy(args)
    except StartError as err:
        return fail(PROG, str(err))
    try:
        from roborefer_ros.ros.sim.move_group.node import SimMoveGroup

        node = SimMoveGroup()
    except ImportError as err:
        rclpy.try_shutdown()
        return fail(PROG, f"cannot start: {err} (run the set-up: it builds moveit_msgs)")
    except (ValueError, SimError) as err:
        rclpy.try_shutdown()
        return fail(PROG, f"cannot start: {err}")
    except KeyboardInterrupt:
        rclpy.try_shutdown()
        return 0
    return spin_until_shutdown(node, num_threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
