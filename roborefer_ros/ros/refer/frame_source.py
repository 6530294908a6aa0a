"""Camera frames left in the middleware until a request needs one.

The refer node's three camera subscriptions (colour, aligned depth, camera_info) live on a private
node that no executor spins. DDS keeps the newest ``history_depth`` messages of each topic in its
own reader history (KEEP_LAST) and nothing in Python runs per frame: a node that answers a few
requests a minute pays only for the middleware receiving the stream.

When a request needs a frame (or the self-check wants one), ``drain`` takes what has arrived,
still serialized, merges the three topics in their order of arrival (the middleware's reception
timestamps, each topic in the order it was handed over) and feeds the ROS-free ``FrameSync``,
which pairs colour and depth within slop, pairs camera_info by stamp, keeps the ring and
restarts on a jump back in time exactly as when every message was fed from a callback. Only the
frame a request freezes is ever deserialized.

Waiting for a frame at or after ``min_stamp`` blocks on an rcl wait set over the three
subscriptions (one waiter at a time; the others wait for its drain), never polling.
"""

from __future__ import annotations

import copy
import heapq
import threading
import time
from dataclasses import dataclass
from typing import Any, NamedTuple

from rclpy.guard_condition import GuardCondition
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image

from roborefer_ros.core.frame_sync import FrameSync, FrameSyncStats, SyncedSet
from roborefer_ros.ros.conversions import cdr_header_stamp_ns

WAIT_SLICE_S = 0.1  # longest single wait on the middleware (close and other waiters look between)
SerializedSet = SyncedSet[bytes, bytes, bytes]


@dataclass(frozen=True)
class CameraTopics:
    """Fully resolved topic names of the aligned RGB-D stream."""

    color: str
    depth: str
    info: str


def history_depth(qos_depth: int, ring_size: int) -> int:
    """Messages the middleware keeps per topic: the configured depth, and at least enough for a
    full ring of frames plus one message of slack per stream."""
    return max(qos_depth, ring_size + 2)


class MiddlewareFrameSource:
    """Frames for requests, taken from the middleware's reader histories on demand.

    ``sync`` is the ring requests select from; messages can also be fed to it directly (tests).
    """

    def __init__(
        self,
        name: str,
        topics: CameraTopics,
        qos: QoSProfile,
        sync: FrameSync[bytes, bytes, bytes],
        context: Any = None,
        **node_kwargs: Any,
    ) -> None:
        self.sync = sync
        self.topics = topics
        self.node = Node(name, context=context, start_parameter_services=False, **node_kwargs)
        self._subs = [
            (kind, self.node.create_subscription(msg_type, topic, _never_called, qos, raw=True))
            for kind, msg_type, topic in (
                ("color", Image, topics.color),
                ("depth", Image, topics.depth),
                ("info", CameraInfo, topics.info),
            )
        ]
        self._feed = {"color": sync.add_color, "depth": sync.add_depth, "info": sync.add_info}
        self._wake = GuardCondition(None, None, context=self.node.context)
        handle = self.node.context.handle
        assert handle is not None  # a node exists only in an initialised context
        self._wait_set = _rclpy.WaitSet(len(self._subs), 1, 0, 0, 0, 0, handle)
        self._drain_lock = threading.Lock()  # one drain at a time keeps the order of arrival
        self._wait_lock = threading.Lock()  # one thread waits on the middleware at a time
        self._generation = 0  # drains that took something
        self._last_drain = float("-inf")  # time.monotonic() of the last drain
        self._taken = 0
        self._closed = False

    @property
    def messages_taken(self) -> int:
        """Messages taken from the middleware so far (all three topics)."""
        return self._taken

    def seconds_since_drain(self) -> float:
        return time.monotonic() - self._last_drain

    # -- taking from the middleware -----------------------------------------------------------

    def drain(self) -> int:
        """Take every message the middleware holds and feed them, in order of arrival, to the
        ring; returns how many were taken."""
        with self._drain_lock:
            if self._closed:
                return 0
            per_topic: list[list[Arrival]] = []
            for kind, sub in self._subs:
                arrivals: list[Arrival] = []
                with sub.handle:
                    while True:
                        got = sub.handle.take_message(sub.msg_type, True)
                        if got is None:
                            break
                        data, info = got
                        arrivals.append(Arrival(int(info["received_timestamp"]), kind, data))
                per_topic.append(arrivals)
            taken = in_order_of_arrival(per_topic)
            for arrival in taken:
                self._feed[arrival.kind](cdr_header_stamp_ns(arrival.data), arrival.data)
            self._last_drain = time.monotonic()
            if taken:
                self._taken += len(taken)
                self._generation += 1
            return len(taken)

    def _wait_for_messages(self, seen_generation: int, timeout_s: float) -> None:
        """Block until a message may have arrived, another thread drained, or ``timeout_s``."""
        if not self._wait_lock.acquire(timeout=max(timeout_s, 0.0)):
            return  # another thread waited all that time; the caller drains and looks again
        try:
            if self._generation != seen_generation or self._closed:
                return  # someone drained meanwhile: look at that first
            self._wait_set.clear_entities()
            for _, sub in self._subs:
                self._wait_set.add_subscription(sub.handle)
            self._wait_set.add_guard_condition(self._wake.handle)
            self._wait_set.wait(round(max(timeout_s, 0.0) * 1e9))
        finally:
            self._wait_lock.release()

    # -- what requests ask ----------------------------------------------------------------------

    def wait_select(self, min_stamp_ns: int, timeout_s: float) -> SerializedSet | None:
        """The frame a request gets: ``min_stamp_ns <= 0`` the latest, else the earliest buffered
        at or after it; waits up to ``timeout_s`` for one. A request made before a jump back in
        time can still get a frame of the timeline it was made in (``FrameSync.select``)."""
        deadline = time.monotonic() + max(timeout_s, 0.0)
        self.drain()
        timeline = self.sync.timeline
        while True:
            generation = self._generation
            found = self.sync.select(min_stamp_ns, timeline)
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0 or self._closed:
                return found
            self._wait_for_messages(generation, min(remaining, WAIT_SLICE_S))
            self.drain()

    def latest(self, refresh_after_s: float = 0.0) -> SerializedSet | None:
        """The newest frame; drained first when the last drain is older than ``refresh_after_s``
        or there is no frame yet (the self-check refreshes rarely: a drain copies every frame
        the middleware holds)."""
        synced = self.sync.latest()
        if synced is None or self.seconds_since_drain() >= refresh_after_s:
            self.drain()
            synced = self.sync.latest()
        return synced

    def stats(self) -> FrameSyncStats:
        return self.sync.stats()

    def close(self) -> None:
        with self._drain_lock:
            self._closed = True
        self._wake.trigger()
        with self._wait_lock:  # the waiter (if any) has left the wait set
            self._wait_set.destroy_when_not_in_use()
            self._wake.destroy()
            self.node.destroy_node()


class Arrival(NamedTuple):
    """One message as the middleware handed it over."""

    received_ns: int  # the middleware's reception timestamp
    kind: str  # "color", "depth" or "info"
    data: bytes


def in_order_of_arrival(per_topic: list[list[Arrival]]) -> list[Arrival]:
    """Merge the topics by reception time, each topic's messages kept in the order taken.

    A reliable reader hands a topic's messages over in publication order, but a message that
    needed a repair was received after the ones published behind it: sorting by reception time
    would feed those first and FrameSync would drop the other stream's partner of the repaired
    one as unpairable. A merge that only ever compares the topics' next messages keeps each
    topic's order and interleaves the topics as they arrived.
    """
    return list(heapq.merge(*per_topic, key=lambda a: a.received_ns))


def _never_called(_msg: Any) -> None:
    """The subscriptions' callback: no executor spins their node, requests take instead."""


def with_depth(qos: QoSProfile, depth: int) -> QoSProfile:
    """``qos`` with another history depth."""
    out = copy.copy(qos)
    out.depth = depth
    return out
