"""ROS-free approximate-time pairing of colour + depth, and a ring of the recent synced frames.

Kept out of the node so it is testable without a graph and so subscription callbacks only do a
few list operations under one lock. Messages are opaque: nothing here converts or inspects them.

Matching rule: a message is paired as soon as the other stream holds an unpaired message within
``slop_s`` of it, choosing the nearest one. Because every add restores the invariant "no two
unpaired messages lie within slop of each other", that greedy choice is the nearest partner.
Colour and depth may interleave in any order (one stream may run several frames ahead). Within
one stream, stamps are expected to rise: a message whose stamp + slop is older than the newest
stamp of the other stream can then never be paired and is dropped, so a message arriving late
within its own stream is tolerated only within slop. ``queue_size`` bounds the queues regardless.

camera_info pairs with its image by stamp, as image_transport's camera subscriber pairs them: a
frame gets the camera_info nearest to its colour stamp within ``slop_s``, looked up when a frame
is selected (so a camera_info that arrives after its images still counts, and a stray older one
that arrives later is never applied to a newer frame). A frame with no camera_info within slop is
not served. The recent camera_infos are kept by stamp (``ring_size + queue_size`` of them).

Who feeds it is free: the refer node takes messages from the middleware only when a request
needs a frame (``ros.refer.frame_source``), in their order of arrival, and asks ``select`` with
the ``timeline`` it read when the request came.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

C = TypeVar("C")
D = TypeVar("D")
I = TypeVar("I")  # noqa: E741 - the brief's name for the camera_info type
M = TypeVar("M")


@dataclass(frozen=True)
class SyncedSet(Generic[C, D, I]):
    """One colour message, the depth message paired with it, and the camera_info to use.

    ``stamp_ns`` is the colour stamp: the time the model's pixels were taken.
    """

    stamp_ns: int
    color: C
    depth: D
    info: I


@dataclass(frozen=True)
class _Pair(Generic[C, D]):
    stamp_ns: int
    color: C
    depth: D


@dataclass(frozen=True)
class FrameSyncStats:
    """Counters for diagnostics; ``last_*_stamp_ns`` is None until the first message."""

    color_received: int
    depth_received: int
    info_received: int
    pairs_emitted: int
    dropped_color: int
    dropped_depth: int
    queued_color: int  # still waiting for a partner
    queued_depth: int
    buffered: int  # sets in the ring
    last_color_stamp_ns: int | None
    last_depth_stamp_ns: int | None
    last_info_stamp_ns: int | None
    last_pair_stamp_ns: int | None
    restarts: int = 0  # times time jumped back (a looping bag, a reset simulation)
    without_info: int = 0  # buffered pairs with no camera_info within slop of their stamp


def _stamp(entry: tuple[int, object]) -> int:
    return entry[0]


def _take_nearest(queue: list[tuple[int, M]], stamp_ns: int, slop_ns: int) -> tuple[int, M] | None:
    """Remove and return the queued entry nearest to ``stamp_ns`` within slop (earlier on ties)."""
    i = bisect_left(queue, stamp_ns, key=_stamp)
    best: int | None = None
    best_dt = slop_ns + 1
    for j in (i - 1, i):
        if 0 <= j < len(queue) and abs(queue[j][0] - stamp_ns) < best_dt:
            best, best_dt = j, abs(queue[j][0] - stamp_ns)
    return None if best is None else queue.pop(best)


def _prune(queue: list[tuple[int, M]], newest_other_ns: int | None, slop_ns: int, size: int) -> int:
    """Drop entries that can no longer be paired, then the oldest beyond ``size``; return count."""
    hopeless = 0
    if newest_other_ns is not None:
        hopeless = bisect_left(queue, newest_other_ns - slop_ns, key=_stamp)
        del queue[:hopeless]
    excess = max(len(queue) - size, 0)
    del queue[:excess]
    return hopeless + excess


class FrameSync(Generic[C, D, I]):
    """Thread-safe approximate-time synchroniser; one lock, one Condition for waiting readers."""

    def __init__(
        self,
        slop_s: float = 0.02,
        ring_size: int = 8,
        queue_size: int = 10,
        jump_back_s: float = 1.0,
    ) -> None:
        if not slop_s >= 0.0:
            raise ValueError(f"slop_s must be >= 0, got {slop_s}")
        if ring_size < 1:
            raise ValueError(f"ring_size must be >= 1, got {ring_size}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self._slop_ns = round(slop_s * 1e9)
        self._ring_size = ring_size
        self._queue_size = queue_size
        # Like tf2 on a jump back in time: a stamp this far behind the newest one means a looping
        # bag or a reset simulation; everything buffered belongs to another timeline.
        self._jump_back_ns = round(jump_back_s * 1e9)
        self._n_restarts = 0
        self._timeline = 0
        self._lock = threading.Lock()
        self._new_set = threading.Condition(self._lock)
        self._reset_locked()

    def _reset_locked(self) -> None:
        self._colors: list[tuple[int, C]] = []  # unpaired, sorted by stamp
        self._depths: list[tuple[int, D]] = []
        self._infos: list[tuple[int, I]] = []  # recent camera_infos, sorted by stamp
        self._ring: deque[_Pair[C, D]] = deque(maxlen=self._ring_size)
        # Before a jump back in time: the pairs and camera_infos of the old timeline.
        self._previous_ring: deque[_Pair[C, D]] = deque()
        self._previous_infos: list[tuple[int, I]] = []
        self._n_color = self._n_depth = self._n_info = self._n_pairs = 0
        self._drop_color = self._drop_depth = 0
        self._last_color: int | None = None
        self._last_depth: int | None = None
        self._last_info: int | None = None

    # -- producers (subscription callbacks) ---------------------------------------------------

    def _restart_if_jumped_back_locked(self, stamp_ns: int, newest_of_stream: int | None) -> None:
        """Per stream: one stream lagging behind the other is not a jump in time.

        Any of the three streams can show the jump first. camera_info, a small message, usually
        does: when a looping bag or a reset simulation starts again, the images of the new
        timeline can arrive later than its camera_info and /tf (a lost image waits for its
        repair), and until then a new request must not get the old timeline's newest frame,
        whose transforms the TF listener has just forgotten.
        """
        if newest_of_stream is not None and stamp_ns < newest_of_stream - self._jump_back_ns:
            self._colors, self._depths = [], []
            # A request that was waiting in the old timeline can still get its set (the last
            # frame of a loop is often cleared before the waiter wakes); new requests cannot.
            self._previous_ring = self._ring
            # camera_infos of the new timeline may have come first: they stay
            newer = stamp_ns + self._jump_back_ns
            self._previous_infos = [e for e in self._infos if e[0] > newer]
            self._infos = [e for e in self._infos if e[0] <= newer]
            self._timeline += 1
            self._ring = deque(maxlen=self._ring_size)
            self._last_color = self._last_depth = self._last_info = None
            self._n_restarts += 1

    def add_color(self, stamp_ns: int, msg: C) -> None:
        with self._lock:
            self._restart_if_jumped_back_locked(stamp_ns, self._last_color)
            self._n_color += 1
            self._last_color = (
                stamp_ns if self._last_color is None else max(self._last_color, stamp_ns)
            )
            depth = _take_nearest(self._depths, stamp_ns, self._slop_ns)
            if depth is None:
                insort(self._colors, (stamp_ns, msg), key=_stamp)
            else:
                self._pair_locked(stamp_ns, msg, depth[1])
            self._prune_locked()

    def add_depth(self, stamp_ns: int, msg: D) -> None:
        with self._lock:
            self._restart_if_jumped_back_locked(stamp_ns, self._last_depth)
            self._n_depth += 1
            self._last_depth = (
                stamp_ns if self._last_depth is None else max(self._last_depth, stamp_ns)
            )
            color = _take_nearest(self._colors, stamp_ns, self._slop_ns)
            if color is None:
                insort(self._depths, (stamp_ns, msg), key=_stamp)
            else:
                self._pair_locked(color[0], color[1], msg)
            self._prune_locked()

    def add_info(self, stamp_ns: int, msg: I) -> None:
        """Keep a camera_info by its stamp; frames within slop of it can now be served."""
        with self._lock:
            self._restart_if_jumped_back_locked(stamp_ns, self._last_info)
            self._n_info += 1
            self._last_info = (
                stamp_ns if self._last_info is None else max(self._last_info, stamp_ns)
            )
            insort(self._infos, (stamp_ns, msg), key=_stamp)
            del self._infos[: max(len(self._infos) - self._ring_size - self._queue_size, 0)]
            self._new_set.notify_all()

    # -- consumers ----------------------------------------------------------------------------

    @property
    def timeline(self) -> int:
        """Counts the jumps back in time; ``select`` takes the one a request was made in."""
        with self._lock:
            return self._timeline

    def latest(self) -> SyncedSet[C, D, I] | None:
        """The newest buffered set (a pair with its camera_info)."""
        with self._lock:
            return self._select_locked(0)

    def select(
        self, min_stamp_ns: int, asked_in_timeline: int | None = None
    ) -> SyncedSet[C, D, I] | None:
        """``min_stamp_ns <= 0``: the latest set; else the earliest buffered set at/after it.

        ``asked_in_timeline`` (``timeline`` when the request came): a request made before a
        jump back in time can still get a frame of the timeline it was made in.
        """
        with self._lock:
            return self._select_locked(min_stamp_ns, asked_in_timeline)

    def wait_select(self, min_stamp_ns: int, timeout_s: float) -> SyncedSet[C, D, I] | None:
        """``select`` that sleeps on the Condition until a matching set exists or time runs out."""
        with self._lock:
            timeline = self._timeline
            self._new_set.wait_for(
                lambda: self._select_locked(min_stamp_ns, timeline) is not None,
                max(timeout_s, 0.0),
            )
            return self._select_locked(min_stamp_ns, timeline)

    def stats(self) -> FrameSyncStats:
        with self._lock:
            return FrameSyncStats(
                color_received=self._n_color,
                depth_received=self._n_depth,
                info_received=self._n_info,
                pairs_emitted=self._n_pairs,
                dropped_color=self._drop_color,
                dropped_depth=self._drop_depth,
                queued_color=len(self._colors),
                queued_depth=len(self._depths),
                buffered=len(self._ring),
                last_color_stamp_ns=self._last_color,
                last_depth_stamp_ns=self._last_depth,
                last_info_stamp_ns=self._last_info,
                last_pair_stamp_ns=self._ring[-1].stamp_ns if self._ring else None,
                restarts=self._n_restarts,
                without_info=sum(
                    self._info_for_locked(p.stamp_ns, self._infos) is None for p in self._ring
                ),
            )

    def clear(self) -> None:
        """Drop all queued messages, buffered sets, the info and the counters."""
        with self._lock:
            self._reset_locked()

    # -- internals, called with the lock held -------------------------------------------------

    def _info_for_locked(self, stamp_ns: int, infos: list[tuple[int, I]]) -> tuple[I] | None:
        """The camera_info nearest to ``stamp_ns`` within slop (earlier on ties), as a 1-tuple
        so that a falsy message still counts; None when there is none."""
        i = bisect_left(infos, stamp_ns, key=_stamp)
        best: tuple[I] | None = None
        best_dt = self._slop_ns + 1
        for j in (i - 1, i):
            if 0 <= j < len(infos) and abs(infos[j][0] - stamp_ns) < best_dt:
                best, best_dt = (infos[j][1],), abs(infos[j][0] - stamp_ns)
        return best

    def _select_locked(
        self, min_stamp_ns: int, asked_in_timeline: int | None = None
    ) -> SyncedSet[C, D, I] | None:
        if min_stamp_ns <= 0:
            for pair in reversed(self._ring):
                info = self._info_for_locked(pair.stamp_ns, self._infos)
                if info is not None:
                    return SyncedSet(pair.stamp_ns, pair.color, pair.depth, info[0])
            return None
        rings = [(self._ring, self._infos)]
        if asked_in_timeline == self._timeline - 1:
            # the timeline the request was made in
            both = sorted(self._previous_infos + self._infos, key=_stamp)
            rings.insert(0, (self._previous_ring, both))
        for ring, infos in rings:
            i = bisect_left([p.stamp_ns for p in ring], min_stamp_ns)
            for pair in list(ring)[i:]:
                info = self._info_for_locked(pair.stamp_ns, infos)
                if info is not None:
                    return SyncedSet(pair.stamp_ns, pair.color, pair.depth, info[0])
        return None

    def _pair_locked(self, stamp_ns: int, color: C, depth: D) -> None:
        """Insert into the ring in stamp order; a pair older than a full ring is discarded."""
        self._n_pairs += 1
        i = bisect_right([p.stamp_ns for p in self._ring], stamp_ns)
        if len(self._ring) == self._ring_size:
            if i == 0:
                return
            self._ring.popleft()
            i -= 1
        self._ring.insert(i, _Pair(stamp_ns, color, depth))
        self._new_set.notify_all()

    def _prune_locked(self) -> None:
        self._drop_color += _prune(self._colors, self._last_depth, self._slop_ns, self._queue_size)
        self._drop_depth += _prune(self._depths, self._last_color, self._slop_ns, self._queue_size)
