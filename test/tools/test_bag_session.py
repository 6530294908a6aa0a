"""BagSession.ask without a graph: a fake node (the real FrameSync and the node's min_stamp rule)
fed by a fake replayer whose first pass delivers frame 0 after frame 1, as DDS sometimes does with
the first frame of a replay. A query about frame 0 must still be answered on frame 0."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builtin_interfaces.msg import Time
from roborefer_ros.srv import RefPoint

from roborefer_ros.core.frame_sync import FrameSync
from roborefer_ros.core.referring import ReferringQuery
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import Status
from roborefer_ros.tools.bag_session import MAX_PASSES, BagSession, outcome

T0 = 1_700_000_000_000_000_000
PERIOD_NS = 200_000_000
STAMPS = [T0 + k * PERIOD_NS for k in range(8)]  # 1.4 s: a second pass is a jump back in time


@dataclass
class _Msg:
    log_time_ns: int


class _Node:
    """The refer node's frame choice (FrameSync.wait_select) and the ground_truth backend's rule:
    only the query's own frame has an answer."""

    def __init__(self) -> None:
        self.sync: FrameSync[str, str, str] = FrameSync(slop_s=0.02, ring_size=60, queue_size=30)
        self.frames_used: list[int] = []

    def alive(self) -> bool:
        return True

    def call_async(self, request: Any) -> Future[Any]:
        future: Future[Any] = Future()
        min_ns = request.min_stamp.sec * 1_000_000_000 + request.min_stamp.nanosec

        def serve() -> None:
            synced = self.sync.wait_select(min_ns, 2.0)
            response = RefPoint.Response()
            if synced is None:
                response.status = int(Status.NO_FRAME)
            else:
                self.frames_used.append(synced.stamp_ns)
                sec, nanosec = divmod(synced.stamp_ns, 1_000_000_000)
                response.image_header.stamp = Time(sec=sec, nanosec=nanosec)
                ok = synced.stamp_ns == min_ns
                response.success = ok
                response.status = int(Status.OK if ok else Status.BACKEND_ERROR)
            future.set_result(response)

        threading.Thread(target=serve, daemon=True).start()
        return future


class _Replayer:
    """Publishes camera_info + colour + depth per frame; on the first pass frame 0 arrives after
    frame 1 (and the real FrameSync drops it: older than the other stream's newest beyond slop)."""

    def __init__(self, node: _Node, late_first_frame_passes: int = 1) -> None:
        self.node, self.passes = node, 0
        self.late_passes = late_first_frame_passes

    def play(self, stop: threading.Event, on_message: Any) -> int:
        self.passes += 1
        order = list(STAMPS)
        if self.passes <= self.late_passes:
            order[0], order[1] = order[1], order[0]
        for stamp, delivered in zip(STAMPS, order, strict=True):
            on_message(_Msg(stamp))  # replay progress is the bag's own clock
            stop.wait(0.02)
            self.node.sync.add_info(delivered, "info")  # stamped like its images, as in a bag
            self.node.sync.add_depth(delivered, f"d{delivered}")  # what reaches the node
            self.node.sync.add_color(delivered, f"c{delivered}")
            stop.wait(0.02)
        return 2 * len(order)


def _session(node: _Node, replayer: _Replayer) -> BagSession:
    session = BagSession(
        None,  # type: ignore[arg-type]  # never read by ask
        None,  # type: ignore[arg-type]
        {"frame_wait_timeout_s": 2.0, "model_timeout_s": 1.0},
        node_name="fake",
        workdir=Path("."),
    )
    session.node, session._client, session._replayer = node, node, replayer
    return session


def _queries() -> list[ReferringQuery]:
    return [
        ReferringQuery(f"thing {k}", stamp, (1.0, 1.0), (0.0, 0.0, 0.0), Mode.LOCATE, 0.01)
        for k, stamp in enumerate(STAMPS[:3])
    ]


def test_a_query_answered_on_a_later_frame_is_asked_again() -> None:
    node = _Node()
    replayer = _Replayer(node)
    answered = _session(node, replayer).ask(_queries(), "base_link", max_in_flight=4)
    statuses = [outcome(a).status for a in answered]
    assert statuses == ["OK", "OK", "OK"], node.frames_used
    assert STAMPS[1] in node.frames_used[:1]  # the race did happen on the first pass
    assert replayer.passes == 2


def test_one_pass_when_every_frame_arrives_in_order() -> None:
    node = _Node()
    replayer = _Replayer(node, late_first_frame_passes=0)
    answered = _session(node, replayer).ask(_queries(), "base_link", max_in_flight=4)
    assert [outcome(a).status for a in answered] == ["OK", "OK", "OK"]
    assert replayer.passes == 1


def test_passes_are_bounded_and_the_last_answer_is_kept() -> None:
    node = _Node()
    replayer = _Replayer(node, late_first_frame_passes=MAX_PASSES)
    answered = _session(node, replayer).ask(_queries(), "base_link", max_in_flight=4)
    assert [outcome(a).status for a in answered] == ["BACKEND_ERROR", "OK", "OK"]
    assert replayer.passes == MAX_PASSES
