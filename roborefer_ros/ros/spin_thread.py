"""Spinning and waiting without spinning: a private node on its own executor thread, the main
loops of node executables, and ``wait_future`` for a thread that waits on a future while the
executor runs elsewhere.

A private single-threaded executor serves listeners that must never wait behind request handlers
(TF, camera streams), and because rclpy's MultiThreadedExecutor costs several times more CPU per
callback than a single-threaded one: at 30 Hz RGB-D, 40-55 % of a core against 15 %
(docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import enum
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


class SpinThread:
    """A private node on its own executor thread (for listeners that must never be starved).

    A callback that raises does not end the thread: the error is logged (with its traceback) and
    the executor spins on, so one bad message can never silently stop a listener. Only a
    shut-down context or ``close`` ends it.
    """

    def __init__(
        self, name: str, context: Any = None, start: bool = True, **node_kwargs: Any
    ) -> None:
        """``start`` False: spin only once ``start()`` is called, so action clients can be made
        first (rclpy's ActionClient joins the node's waitables before its lock exists: a spinning
        executor then raised AttributeError '_lock', seen in a suite run)."""
        self.node = Node(name, context=context, start_parameter_services=False, **node_kwargs)
        self._executor = SingleThreadedExecutor(context=context)
        self._executor.add_node(self.node)
        self._closing = False
        self.callback_errors = 0  # callbacks that raised (each logged)
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        if start:
            self._thread.start()

    def start(self) -> None:
        if self._thread.ident is None:  # not started yet
            self._thread.start()

    def _spin(self) -> None:
        while True:
            try:
                self._executor.spin()
                return
            except Exception as err:  # a listener must outlive its callbacks
                if self._closing or not self.node.context.ok():
                    return  # a context shut down under us ends the thread quietly
                self.callback_errors += 1
                self.node.get_logger().error(
                    f"a callback raised {type(err).__name__}: {err}; spinning on\n"
                    + "".join(traceback.format_exception(err))
                )
                time.sleep(0.001)  # never a hot loop, whatever keeps raising

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self._closing = True
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=2.0)


def private_node_kwargs(parent: Node, topics: Iterable[str] = ()) -> dict[str, Any]:
    """Keyword arguments of a ``SpinThread`` node that works beside ``parent``.

    The process's global arguments are not applied to it: ``ros2 launch`` and roborefer-launch
    pass ``-r __node:=NAME``, which would give the private node the parent's name (rcl then warns
    "Publisher already registered" and the two share one /rosout publisher). It gets the
    parent's namespace instead, and each of ``topics`` is remapped to what the parent resolves
    it to, so the parent's remaps still apply.
    """
    args = ["--ros-args"]
    for topic in topics:
        args += ["-r", f"{topic}:={parent.resolve_topic_name(topic)}"]
    return {
        "use_global_arguments": False,
        "namespace": parent.get_namespace(),
        "cli_args": args if len(args) > 1 else None,
    }


def spin_until_shutdown(node: Node, num_threads: int) -> int:
    """Spin a node until Ctrl-C / shutdown; clean up; exit code 0.

    The main loop of a node executable (rclpy.init done by the caller). ``num_threads`` 1: a
    single-threaded executor (rclpy's multi-threaded one busy-loops under steady input).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    executor: Any = (
        SingleThreadedExecutor()
        if num_threads <= 1
        else MultiThreadedExecutor(num_threads=num_threads)
    )
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # rclpy's signal handler shut the context down between two waits: the executor then
        # fails to build its wait set (RCLError). A shutdown, not a fault; anything else is.
        if node.context.ok():
            raise
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SEND_GRACE_S = 0.3


class InFlight:
    """Callbacks running now (``with in_flight:`` around each), so a stopping node can wait
    for their answers (``Drains.wait_idle``)."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self._count += 1

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        return self._count

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until none is running; False if some still are at the end."""
        deadline = time.monotonic() + timeout_s
        while self._count and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._count


@runtime_checkable
class Drains(Protocol):
    """A node that can end its requests in flight before the process goes (``ReferNode``)."""

    def begin_shutdown(self) -> None: ...

    def wait_idle(self, timeout_s: float) -> bool: ...


def spin_until_signal(node: Any, num_threads: int, drain_s: float = 3.0) -> int:
    """``spin_until_shutdown`` for a node that answers its callers before it goes.

    Call ``rclpy.init(..., signal_handler_options=SignalHandlerOptions.NO)`` first: SIGINT and
    SIGTERM are handled here instead. rclpy's own handler shuts the context down at once, so a
    request in flight could no longer be answered (its publishers are invalid and the action's
    result is never sent). Here the executor keeps spinning while ``node.begin_shutdown()`` ends
    the requests in flight and ``node.wait_idle(drain_s)`` waits for their answers; then the
    executor, node and context are shut down. Exit code 0.
    """
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    previous: dict[signal.Signals, Any] = {}
    try:
        stop = threading.Event()
        for sig in _STOP_SIGNALS:
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place: stop at once
        stop = threading.Event()  # (the handlers set the one this name holds)
        stop.set()
    executor = MultiThreadedExecutor(num_threads=num_threads)
    executor.add_node(node)

    def spin() -> None:
        with contextlib.suppress(Exception):  # a context shut down elsewhere ends it quietly
            executor.spin()

    spinner = threading.Thread(target=spin, name="executor", daemon=True)
    spinner.start()
    try:
        while spinner.is_alive() and not stop.wait(0.1):
            pass
        if spinner.is_alive() and isinstance(node, Drains):
            node.begin_shutdown()
            if node.wait_idle(drain_s):
                time.sleep(_SEND_GRACE_S)  # the executor sends the last answers after the callbacks
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown()
        spinner.join(timeout=2.0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


class Waited(enum.Enum):
    """How ``wait_future`` ended."""

    DONE = "done"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed out"


def _never() -> bool:
    return False


def wait_future(
    future: Any,
    deadline: float,
    cancelled: Callable[[], bool] = _never,
    poll_s: float = 0.05,
) -> Waited:
    """Wait on this thread for an rclpy future that another thread's executor completes, until
    the ``time.monotonic()`` ``deadline`` or ``cancelled()`` (checked every ``poll_s``). Never
    spins: calling it from a callback of the executor that must complete the future would wait
    in vain. A future that completes by the time the wait gives up counts as DONE."""
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    while not done.wait(poll_s):
        if cancelled():
            return Waited.DONE if future.done() else Waited.CANCELLED
        if time.monotonic() > deadline:
            return Waited.DONE if future.done() else Waited.TIMED_OUT
    return Waited.DONE
