"""A private node on its own single-threaded executor thread.

For listeners that must never wait behind request handlers (TF, camera streams), and because
rclpy's MultiThreadedExecutor costs several times more CPU per callback than a single-threaded
one: at 30 Hz RGB-D, 40-55 % of a core against 15 % (docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class SpinThread:
    """A private node on its own executor thread (for listeners that must never be starved)."""

    def __init__(self, name: str, context: Any = None, **node_kwargs: Any) -> None:
        self.node = Node(name, context=context, start_parameter_services=False, **node_kwargs)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        # A context shut down under us ends the thread quietly.
        with contextlib.suppress(Exception):
            self._executor.spin()

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self._thread.join(timeout=2.0)


def spin_until_shutdown(node: Node, num_threads: int) -> int:
    """Spin a node on a multi-threaded executor until Ctrl-C / shutdown; clean up; exit code 0.

    The main loop of every roborefer node executable (rclpy.init done by the caller).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    executor = MultiThreadedExecutor(num_threads=num_threads)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
