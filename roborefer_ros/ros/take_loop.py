"""A listener thread without an executor: wait on the subscriptions, take, call back.

rclpy's executors run a good deal of Python per wake-up (building the wait set, tasks, callback
groups): at 30 Hz that was 2.5-3.5 % of a core for a TF listener whose own work per message is
about 0.1 ms (docs/benchmarks.md). ``TakeLoop`` serves the subscriptions of one private node from
one plain thread instead: it blocks on an rcl wait set over them, takes every message that has
arrived (deserialized by rclpy, as an executor would) and calls its callback. For subscriptions
only: no timers, services or clients.

A callback that raises is logged (with its traceback) and the loop goes on with the next message,
so one bad message never stops a listener; only ``close`` or a shut-down context ends it.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from rclpy.guard_condition import GuardCondition
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile

WAIT_S = 1.0  # longest wait; subscribing and closing wake the loop at once


class TakeLoop:
    """A private node whose subscriptions one thread serves (call ``subscribe``, then it runs)."""

    def __init__(self, name: str, context: Any = None, **node_kwargs: Any) -> None:
        self.node = Node(name, context=context, start_parameter_services=False, **node_kwargs)
        self._entries: list[tuple[Any, Callable[..., None], bool]] = []
        self._lock = threading.Lock()
        self._wake = GuardCondition(None, None, context=self.node.context)
        self._closing = False
        self.callback_errors = 0  # callbacks that raised (each logged)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def subscribe(
        self,
        msg_type: Any,
        topic: str,
        callback: Callable[..., None],
        qos: QoSProfile,
        raw: bool = False,
        with_info: bool = False,
    ) -> None:
        """Subscribe ``topic``; ``callback`` gets each message (serialized bytes with ``raw``),
        on this loop's thread; ``with_info``: and the middleware's message info as a second
        argument (a dict: ``source_timestamp``, ``received_timestamp`` in ns, ...)."""
        subscription = self.node.create_subscription(msg_type, topic, callback, qos, raw=raw)
        with self._lock:
            self._entries.append((subscription, callback, with_info))
        self._wake.trigger()

    def _run(self) -> None:
        handle = self.node.context.handle
        if handle is None:
            return
        entries: list[tuple[Any, Callable[..., None], bool]] = []
        wait_set: Any = None
        while not self._closing:
            with self._lock:
                if len(self._entries) != len(entries) or wait_set is None:
                    entries = list(self._entries)
                    wait_set = _rclpy.WaitSet(len(entries), 1, 0, 0, 0, 0, handle)
            try:
                wait_set.clear_entities()
                for subscription, _, _ in entries:
                    wait_set.add_subscription(subscription.handle)
                wait_set.add_guard_condition(self._wake.handle)
                wait_set.wait(round(WAIT_S * 1e9))
            except Exception:  # the context or the node went away under us
                if self._closing or not self.node.context.ok():
                    return
                raise
            for subscription, callback, with_info in entries:
                self._take_all(subscription, callback, with_info)

    def _take_all(self, subscription: Any, callback: Callable[..., None], with_info: bool) -> None:
        while not self._closing:
            try:
                with subscription.handle:
                    got = subscription.handle.take_message(subscription.msg_type, subscription.raw)
            except Exception:  # destroyed while closing
                if self._closing or not self.node.context.ok():
                    return
                raise
            if got is None:
                return
            try:
                if with_info:
                    callback(got[0], got[1])
                else:
                    callback(got[0])
            except Exception as err:  # a listener must outlive its callbacks
                self.callback_errors += 1
                self.node.get_logger().error(
                    f"a callback raised {type(err).__name__}: {err}; listening on\n"
                    + "".join(traceback.format_exception(err))
                )
                time.sleep(0.001)  # never a hot loop, whatever keeps raising

    def close(self) -> None:
        self._closing = True
        self._wake.trigger()
        self._thread.join(timeout=2.0 * WAIT_S)
        self._wake.destroy()
        self.node.destroy_node()
