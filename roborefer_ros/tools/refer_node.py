"""``roborefer-node`` / ``ros2 run roborefer_ros refer_node``: run the refer node.

Exit codes: 0 after Ctrl-C / SIGTERM, 2 when the node cannot start: a bad argument, a parameter
of the wrong type or out of range, or a configuration it refuses (an unknown backend...), each
named in one line on stderr, so a launcher that stops all when one dies stops. A model server
that is down at start is no reason to exit: the node retries and answers BACKEND_ERROR
"model not loaded: <cause>" meanwhile.
"""

from __future__ import annotations

import sys

from rclpy.signals import SignalHandlerOptions

from roborefer_ros.ros.params import ParameterError
from roborefer_ros.tools.node_cli import StartError, fail, init_rclpy, parse_node_args

DRAIN_S = 3.0  # on SIGINT/SIGTERM: how long requests in flight get to be answered (CANCELED)
PROG = "refer_node"
DESCRIPTION = (
    "The RefPoint service (~/refer) and Refer action (~/refer_action): a pointing model on the "
    "live aligned RGB-D frame, its points lifted to 3D poses in the target frame. Subscribes "
    "color/image_raw, aligned_depth_to_color/image_raw, color/camera_info, /tf, /tf_static."
)


def main(argv: list[str] | None = None) -> int:
    import rclpy

    from roborefer_ros.ros.refer.node import ReferNode
    from roborefer_ros.ros.refer.params import REFER_NODE_PARAMETERS
    from roborefer_ros.ros.spin_thread import spin_until_signal

    args = list(sys.argv if argv is None else argv)
    parse_node_args(PROG, DESCRIPTION, REFER_NODE_PARAMETERS, args[1:])
    try:
        # Our own SIGINT/SIGTERM handling (spin_until_signal): callers in flight get an answer.
        init_rclpy(args, signal_handler_options=SignalHandlerOptions.NO)
    except StartError as err:
        return fail(PROG, str(err))
    try:
        node = ReferNode()
    except ParameterError as err:
        rclpy.try_shutdown()
        return fail(PROG, str(err))
    except KeyboardInterrupt:  # Ctrl-C while the model loads: nothing in flight to answer
        rclpy.try_shutdown()
        return 0
    try:
        if node.config_error is not None:  # logged by the node as "configuration rejected: ..."
            node.destroy_node()
            rclpy.try_shutdown()
            return 2
        # A thread for every admitted request (max_pending_requests) plus the action, timers and
        # parameter services; the camera streams and TF have threads of their own.
        threads = int(node.get_parameter("max_pending_requests").value) + 4
    except KeyboardInterrupt:  # Ctrl-C before the spin's own handling: nothing in flight yet
        node.destroy_node()
        rclpy.try_shutdown()
        return 0
    return spin_until_signal(node, threads, DRAIN_S)


if __name__ == "__main__":
    raise SystemExit(main())
