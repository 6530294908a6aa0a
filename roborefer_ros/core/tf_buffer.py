"""A small tf2-like transform buffer, so TF logic works (and is testable) without tf2_ros.

The ROS adapter feeds it from /tf and /tf_static; core code queries it. Semantics follow tf2:
every child frame has one parent (the latest ``set_transform`` wins), dynamic edges are
interpolated between samples and never extrapolated, static edges hold at every time, and a
stamp of 0 asks for the latest time at which every edge of the chain has data.

Do not call ``wait_for_transform`` on the thread that feeds the buffer: the data it waits for
could then never arrive (the classic tf2_ros pitfall).

Input is checked on insert as tf2 does (``checked_transform``): one leading ``/`` of a frame name
is stripped; an empty name, a frame that is its own parent, a non-finite translation or a
quaternion whose squared norm is off 1 by ``QUAT_TOLERANCE`` or more is refused with a
``BadTransformError`` that names the transform and why (a feeder logs it and goes on with the
next transform). A quaternion within the tolerance is normalised.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.transforms import QuatXYZW, Transform, Vec3, interpolate

#: tf2 refuses a quaternion whose squared norm differs from 1 by this much or more (and normalises
#: the others), so a typo such as (0, 0, 0.5, 0) is an error, not a silent 180 degree yaw.
QUAT_TOLERANCE = 0.01


class TransformError(RefPointError):
    """Any failure to resolve a transform; carries ``Status.TF_ERROR``."""

    def __init__(self, message: str) -> None:
        super().__init__(Status.TF_ERROR, message)


class FrameNotFoundError(TransformError):
    """A frame name the buffer has never seen."""


class ConnectivityError(TransformError):
    """Both frames are known but lie in disjoint trees."""


class ExtrapolationError(TransformError):
    """The requested time lies outside the data of an edge of the chain."""


class TransformLoopError(TransformError):
    """The parent links form a cycle (a misconfigured publisher)."""


class BadTransformError(ValueError):
    """A transform refused on insert; the message names it (parent -> child) and why."""


def strip_slash(frame: str) -> str:
    """``/world`` -> ``world``: tf2 drops one leading slash of a frame name on insert."""
    return frame[1:] if frame.startswith("/") else frame


@dataclass(frozen=True)
class StampedTransform:
    """``transform`` is T_parent_from_child (the pose of child in parent) at ``stamp_ns``.

    Same meaning as geometry_msgs/TransformStamped ``header.frame_id`` / ``child_frame_id``.
    """

    parent_frame: str
    child_frame: str
    stamp_ns: int
    transform: Transform


def checked_transform(
    parent_frame: str,
    child_frame: str,
    stamp_ns: int,
    translation: Vec3,
    quat_xyzw: QuatXYZW,
) -> StampedTransform:
    """The raw fields of one TransformStamped as a ``StampedTransform``, checked as tf2 checks a
    transform on insert (module docstring); BadTransformError names the first problem."""
    parent, child = strip_slash(parent_frame), strip_slash(child_frame)
    name = f"{parent_frame!r} -> {child_frame!r}"
    if not child:
        raise BadTransformError(f"transform {name}: empty child_frame_id")
    if not parent:
        raise BadTransformError(f"transform {name}: empty frame_id (parent)")
    if parent == child:
        raise BadTransformError(f"transform {name}: frame {child!r} cannot be its own parent")
    if not all(math.isfinite(v) for v in translation):
        raise BadTransformError(f"transform {name}: translation {list(translation)} is not finite")
    if not all(math.isfinite(v) for v in quat_xyzw):
        raise BadTransformError(f"transform {name}: quaternion {list(quat_xyzw)} is not finite")
    squared = sum(v * v for v in quat_xyzw)
    if abs(squared - 1.0) >= QUAT_TOLERANCE:
        raise BadTransformError(
            f"transform {name}: quaternion (x, y, z, w) = {list(quat_xyzw)} is not unit "
            f"(squared norm {squared:.4g}; tf2 refuses |q.q - 1| >= {QUAT_TOLERANCE})"
        )
    return StampedTransform(parent, child, stamp_ns, Transform(translation, quat_xyzw))


def _fmt_s(stamp_ns: int) -> str:
    return f"{stamp_ns / 1e9:.3f} s"


@dataclass
class _Edge:
    """All data for one child frame: its parent and either a static transform or samples."""

    parent: str
    child: str
    authority: str
    is_static: bool
    stamps_ns: list[int] = field(default_factory=list)  # sorted ascending
    transforms: list[Transform] = field(default_factory=list)  # parallel to stamps_ns

    @property
    def name(self) -> str:
        return f"{self.parent}->{self.child}"

    def insert(self, stamp_ns: int, transform: Transform, cache_ns: int) -> None:
        """Insert in time order (replacing an equal stamp) and drop samples beyond the cache."""
        i = bisect_left(self.stamps_ns, stamp_ns)
        if i < len(self.stamps_ns) and self.stamps_ns[i] == stamp_ns:
            self.transforms[i] = transform
        else:
            self.stamps_ns.insert(i, stamp_ns)
            self.transforms.insert(i, transform)
        cut = bisect_left(self.stamps_ns, self.stamps_ns[-1] - cache_ns)
        del self.stamps_ns[:cut]
        del self.transforms[:cut]

    def at(self, stamp_ns: int) -> Transform:
        """T_parent_from_child at ``stamp_ns``; raise ExtrapolationError outside the data."""
        if self.is_static:
            return self.transforms[-1]
        oldest, newest = self.stamps_ns[0], self.stamps_ns[-1]
        if stamp_ns > newest:
            raise ExtrapolationError(
                f"extrapolation into the future: requested {_fmt_s(stamp_ns)}, latest data for "
                f"{self.name} at {_fmt_s(newest)}{self._by()}"
            )
        if stamp_ns < oldest:
            raise ExtrapolationError(
                f"extrapolation into the past: requested {_fmt_s(stamp_ns)}, earliest data for "
                f"{self.name} at {_fmt_s(oldest)} (data covers {_fmt_s(oldest)} to "
                f"{_fmt_s(newest)}){self._by()}"
            )
        i = bisect_right(self.stamps_ns, stamp_ns) - 1
        if self.stamps_ns[i] == stamp_ns:
            return self.transforms[i]
        t0, t1 = self.stamps_ns[i], self.stamps_ns[i + 1]
        return interpolate(self.transforms[i], self.transforms[i + 1], (stamp_ns - t0) / (t1 - t0))

    def _by(self) -> str:
        return f" (published by {self.authority!r})" if self.authority else ""


class TransformBuffer:
    """Thread-safe store of the TF tree; one lock guards all state, a Condition wakes waiters."""

    def __init__(self, cache_time_s: float = 10.0) -> None:
        if not cache_time_s > 0.0:
            raise ValueError(f"cache_time_s must be > 0, got {cache_time_s}")
        self._cache_ns = int(cache_time_s * 1e9)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._edges: dict[str, _Edge] = {}  # keyed by child frame

    def set_transform(
        self, st: StampedTransform, authority: str = "", is_static: bool = False
    ) -> None:
        """Add one edge sample; re-parenting a child or switching static/dynamic drops its past.

        One leading ``/`` of a frame name is stripped (as tf2 does); BadTransformError for an
        empty frame name or a frame that is its own parent.
        """
        parent, child = strip_slash(st.parent_frame), strip_slash(st.child_frame)
        if not parent or not child:
            raise BadTransformError(
                f"transform {st.parent_frame!r} -> {st.child_frame!r}: empty frame name"
            )
        if parent == child:
            raise BadTransformError(f"frame {child!r} cannot be its own parent")
        if (parent, child) != (st.parent_frame, st.child_frame):
            st = StampedTransform(parent, child, st.stamp_ns, st.transform)
        with self._lock:
            edge = self._edges.get(st.child_frame)
            if edge is None or edge.parent != st.parent_frame or edge.is_static != is_static:
                edge = _Edge(st.parent_frame, st.child_frame, authority, is_static)
                self._edges[st.child_frame] = edge
            edge.authority = authority
            if is_static:
                edge.stamps_ns[:] = [st.stamp_ns]
                edge.transforms[:] = [st.transform]
            else:
                edge.insert(st.stamp_ns, st.transform, self._cache_ns)
            self._changed.notify_all()

    def lookup_transform(self, target_frame: str, source_frame: str, stamp_ns: int) -> Transform:
        """T_target_from_source at ``stamp_ns`` (0: latest common time). Raises TransformError."""
        with self._lock:
            return self._lookup_locked(target_frame, source_frame, stamp_ns)

    def can_transform(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float = 0.0
    ) -> bool:
        try:
            self.wait_for_transform(target_frame, source_frame, stamp_ns, timeout_s)
        except TransformError:
            return False
        return True

    def wait_for_transform(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        """Like ``lookup_transform`` but retry each time new data arrives, up to ``timeout_s``.

        Sleeps on the Condition between attempts (no polling). On timeout re-raises the last
        lookup error, same type, with "after waiting X s" appended.
        """
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._lock:
            while True:
                try:
                    return self._lookup_locked(target_frame, source_frame, stamp_ns)
                except TransformError as err:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0.0:
                        if timeout_s <= 0.0:
                            raise
                        raise type(err)(f"{err.message} after waiting {timeout_s:.3f} s") from err
                self._changed.wait(remaining)

    def all_frames(self) -> set[str]:
        with self._lock:
            return {e.child for e in self._edges.values()} | {
                e.parent for e in self._edges.values()
            }

    def clear(self, keep_static: bool = True) -> None:
        """Forget dynamic data (e.g. after a time jump); static edges stay unless asked, as tf2."""
        with self._lock:
            self._edges = {
                child: edge for child, edge in self._edges.items() if keep_static and edge.is_static
            }
            self._changed.notify_all()

    # -- internals, called with the lock held -------------------------------------------------

    def _known(self, frame: str) -> bool:
        return frame in self._edges or any(e.parent == frame for e in self._edges.values())

    def _chain(self, frame: str) -> list[_Edge]:
        """Edges from ``frame`` up to its root, child first."""
        chain: list[_Edge] = []
        seen = {frame}
        edge = self._edges.get(frame)
        while edge is not None:
            chain.append(edge)
            if edge.parent in seen:
                path = " -> ".join([*(e.child for e in chain), edge.parent])
                raise TransformLoopError(f"TF tree has a loop: {path}")
            seen.add(edge.parent)
            edge = self._edges.get(edge.parent)
        return chain

    def _lookup_locked(self, target_frame: str, source_frame: str, stamp_ns: int) -> Transform:
        if target_frame == source_frame:
            return Transform.identity()
        for frame in (target_frame, source_frame):
            if not self._known(frame):
                known = ", ".join(sorted({*self._edges, *(e.parent for e in self._edges.values())}))
                raise FrameNotFoundError(
                    f"frame {frame!r} does not exist (known frames: {known or 'none'})"
                )
        src_chain = self._chain(source_frame)
        tgt_chain = self._chain(target_frame)
        # Trim both chains to the common ancestor.
        src_frames = [source_frame, *(e.parent for e in src_chain)]
        tgt_frames = [target_frame, *(e.parent for e in tgt_chain)]
        src_index = {f: i for i, f in enumerate(src_frames)}
        common = next((f for f in tgt_frames if f in src_index), None)
        if common is None:
            raise ConnectivityError(
                f"frames {target_frame!r} and {source_frame!r} are not connected: their roots "
                f"are {tgt_frames[-1]!r} and {src_frames[-1]!r}"
            )
        src_chain = src_chain[: src_index[common]]
        tgt_chain = tgt_chain[: tgt_frames.index(common)]
        edges = src_chain + tgt_chain
        if stamp_ns == 0:
            dynamic = [e.stamps_ns[-1] for e in edges if not e.is_static]
            stamp_ns = min(dynamic, default=0)
        T_common_from_source = Transform.identity()
        for edge in src_chain:
            T_common_from_source = edge.at(stamp_ns) @ T_common_from_source
        T_common_from_target = Transform.identity()
        for edge in tgt_chain:
            T_common_from_target = edge.at(stamp_ns) @ T_common_from_target
        return T_common_from_target.inverse() @ T_common_from_source
