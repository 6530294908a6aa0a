"""``roborefer-pick-place-node`` / ``ros2 run roborefer_ros pick_place_node``: run the
pick-and-place node.

Exit codes: 0 after Ctrl-C / SIGTERM, 2 when the node cannot start (a bad argument, a parameter
of the wrong type or out of range, a configuration it refuses), named in one line on stderr.
"""

from __future__ import annotations

import sys

from rclpy.signals import SignalHandlerOptions

from roborefer_ros.tools.node_cli import StartError, fail, init_rclpy, parse_node_args

PROG = "pick_place_node"
DESCRIPTION = (
    "The PickPlace action (~/pick_place): asks the refer node for the pick and place targets, "
    "checks them, plans and runs the steps on its manipulation backend (moveit, g1, sim, none; "
    "each declares its own parameters beside these)."
)


def main(argv: list[str] | None = None) -> int:
    import rclpy

    from roborefer_ros.ros.pick_place.node import DRAIN_S, PickPlaceNode
    from roborefer_ros.ros.pick_place.params import PICK_PLACE_PARAMETERS
    from roborefer_ros.ros.spin_thread import spin_until_signal

    args = list(sys.argv if argv is None else argv)
    parse_node_args(PROG, DESCRIPTION, PICK_PLACE_PARAMETERS, args[1:])
    try:
        # Our own SIGINT/SIGTERM handling (spin_until_signal): a goal in flight gets an answer.
        init_rclpy(args, signal_handler_options=SignalHandlerOptions.NO)
    except StartError as err:
        return fail(PROG, str(err))
    try:
        node = PickPlaceNode()
    except ValueError as err:  # ParameterError too
        rclpy.try_shutdown()
        return fail(PROG, f"configuration rejected: {err}")
    except KeyboardInterrupt:  # Ctrl-C while starting: nothing in flight to answer
        rclpy.try_shutdown()
        return 0
    return spin_until_signal(node, num_threads=6, drain_s=DRAIN_S)


if __name__ == "__main__":
    raise SystemExit(main())
