"""A refer node fed by a replayed bag, asked the bag's queries at their frames (shared by tools).

``roborefer-bag-eval`` and ``roborefer-demo`` do the same live-graph work: isolate the graph,
start a refer node in its own process with its camera topics remapped to the bag's, replay the bag
from this process, and send each query a little ahead of its frame with ``min_stamp`` set to the
frame's stamp, so the node waits for exactly that frame. Keeping it here means both tools hit the
same timing and QoS pitfalls once, and fix them once.

``min_stamp`` means "the earliest buffered frame at or after": when a query's own frame reaches the
node late (the first frame of a replay can arrive after the next one, and FrameSync then drops it
as unpairable) the node answers on a later frame, i.e. about another image. So each answer's
``image_header.stamp`` is checked, and the queries answered on another frame are asked again on a
further pass of the bag (``MAX_PASSES`` in all), each sent just after its frame was replayed.
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roborefer_ros.bags.reader import BagMessage, BagReader, CameraTopics, TopicQos
from roborefer_ros.core.referring import ReferringQuery
from roborefer_ros.core.status import Status
from roborefer_ros.eval.summary import QueryOutcome
from roborefer_ros.tools.dds_profile import apply_profile

SHM_TRANSPORT = "SHM?max_msg_size=8MB&sockets_size=32MB"
LEAD_S = 0.5  # bag seconds a request is sent ahead of its frame
# A reliable sample the reader lost (a fragment of a big image, or one sent before the reader
# had matched the writer) is repaired at the next heartbeat, ~3 s later: wait past that.
FRAME_WAIT_S = 5.0
TF_WAIT_S = 4.0
SETTLE_S = 1.0  # after the writers see their readers, for the readers to see the writers
SERVICE_WAIT_S = 60.0
SUBSCRIBER_WAIT_S = 15.0
MAX_PASSES = 3  # replays of the bag at most, for queries the node answered on another frame
FRAME_TOLERANCE_NS = 500_000  # an answer's frame within 0.5 ms of the query's stamp is its frame
# On a further pass a query goes out this long (bag time) *after* its frame was published: sent
# ahead, it would reach the node before the replay's jump back in time and be served at once from
# the previous pass's frames (FrameSync keeps them for requests made before the jump).
RETRY_LAG_S = 0.1


class SetupError(RuntimeError):
    """The live graph could not be brought up (node died, service or subscriptions missing)."""


def configure_environment(domain_id: int | None) -> int:
    """Isolate the graph this process and its children use; call before importing rclpy.

    ROS_DOMAIN_ID random in 50-99 unless given or set, discovery on localhost only, and FastDDS
    shared memory with segments big enough for a whole frame (fragments over UDP get lost)."""
    if domain_id is None:
        domain_id = int(os.environ.get("ROS_DOMAIN_ID") or random.randint(50, 99))
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = SHM_TRANSPORT
    apply_profile(os.environ)  # Fast DDS's 100 ms heartbeat: a lost sample is repaired at once
    return domain_id


def session_parameters(
    backend: str,
    referring_path: Path,
    n_queries: int,
    *,
    rate: float = 1.0,
    reliable_camera: bool = True,
    annotate: bool = False,
    overrides: Sequence[str] = (),
) -> dict[str, object]:
    """Refer node parameters for a replayed bag: frames chosen by stamp and never stale, waits
    that outlast a FastDDS repair, room for every request in flight, the bag's referring file for
    the ground_truth backend; then ``overrides`` (NAME=VALUE, verbatim) win."""
    params: dict[str, object] = {
        "backend": backend,
        "qos_reliability": "reliable" if reliable_camera else "best_effort",
        "qos_depth": 10,
        "max_frame_age_s": 0.0,
        "frame_wait_timeout_s": FRAME_WAIT_S + LEAD_S / rate,
        "tf_timeout_s": TF_WAIT_S,
        "frame_ring_size": 60,
        "sync_queue_size": 30,
        "max_pending_requests": min(256, max(16, n_queries)),
        "publish_annotated_image": annotate,
        "publish_markers": False,
    }
    if backend == "ground_truth":
        params["referring_file"] = str(referring_path)
    for item in overrides:
        name, value = item.split("=", 1)
        params[name] = value
    return params


def seconds_param(params: dict[str, object], name: str, default: float) -> float:
    """A node parameter given as number or text, in seconds; ``default`` if absent or bad."""
    try:
        return float(str(params.get(name, default)))
    except ValueError:
        return default


@dataclass
class Answered:
    """A query and, once sent, the future of its RefPoint call."""

    query: ReferringQuery
    future: Any = None

    def response(self) -> Any:
        """The RefPoint.Response, or None when never sent or never answered."""
        if self.future is None or not self.future.done():
            return None
        return self.future.result()

    def on_other_frame(self) -> bool:
        """True when the node answered about a frame other than the query's (a later one that
        satisfied ``min_stamp`` while the query's own frame had not arrived, or was lost)."""
        response = self.response()
        if response is None:
            return False
        stamp = response.image_header.stamp
        frame_ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
        # 0: no frame was frozen (NO_FRAME, BAD_PROMPT, ...): that answer is about no frame.
        return frame_ns != 0 and abs(frame_ns - self.query.stamp_ns) > FRAME_TOLERANCE_NS


Hold = Callable[[Sequence[Answered]], bool]


class QueryScheduler:
    """Sends the queries in stamp order from its own thread: each once the replay is within
    ``lead_ns`` of its stamp, with at most ``max_in_flight`` unanswered (a burst of concurrent
    requests would only measure executor contention). Frames replayed meanwhile wait in the
    node's ring, and ``min_stamp`` still selects the query's own frame. ``hold(sent)`` adds
    back-pressure of the caller's own: no request goes out while it returns True (the demo
    waits for each answer's annotated image, which a burst of answers could overwrite)."""

    def __init__(
        self,
        client: Any,
        queries: Sequence[ReferringQuery],
        target_frame: str,
        lead_ns: int,
        max_in_flight: int,
        hold: Hold | None = None,
    ) -> None:
        from roborefer_ros.srv import RefPoint

        self._request_cls = RefPoint.Request
        self._client, self._target_frame = client, target_frame
        self._lead_ns, self._max_in_flight = lead_ns, max_in_flight
        self._hold = hold
        self._queue = sorted(queries, key=lambda q: q.stamp_ns)
        self._progress_ns: float = -math.inf
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.sent: list[Answered] = []
        self._thread = threading.Thread(target=self._run, name="bag_queries", daemon=True)
        self._thread.start()

    def on_message(self, msg: BagMessage) -> None:
        """Replay progress (called before each message is published)."""
        with self._changed:
            self._progress_ns = msg.log_time_ns
            self._changed.notify_all()

    def replay_done(self) -> None:
        with self._changed:
            self._progress_ns = math.inf
            self._changed.notify_all()

    def _run(self) -> None:
        for query in self._queue:
            with self._changed:
                while not self._stop.is_set() and not (
                    self._progress_ns + self._lead_ns >= query.stamp_ns
                    and self._in_flight() < self._max_in_flight
                    and not (self._hold is not None and self._hold(self.sent))
                ):
                    self._changed.wait(0.005)
            if self._stop.is_set():
                return
            self._send(query)

    def _in_flight(self) -> int:
        return sum(not p.future.done() for p in self.sent)

    def _send(self, query: ReferringQuery) -> None:
        from roborefer_ros.ros.conversions import time_msg

        request = self._request_cls(
            prompt=query.prompt,
            target_frame=self._target_frame,
            mode=query.mode.value,
            min_stamp=time_msg(query.stamp_ns),
        )
        self.sent.append(Answered(query, self._client.call_async(request)))

    def collect(self, timeout_s: float, alive: Callable[[], bool]) -> list[Answered]:
        """Wait for every answer (until ``timeout_s`` or ``alive()`` turns false); every query
        in stamp order, those never sent or never answered without a response."""
        deadline = time.monotonic() + timeout_s
        while self._thread.is_alive() or any(not p.future.done() for p in self.sent):
            if time.monotonic() > deadline or not alive():
                break
            time.sleep(0.01)
        self._stop.set()
        self._thread.join(timeout=1.0)
        answered = {id(p.query): p for p in self.sent}
        return [answered.get(id(q)) or Answered(q) for q in self._queue]


def outcome(answered: Answered) -> QueryOutcome:
    """The scored outcome of one query (NO_RESPONSE when unanswered); error of the first point."""
    query = answered.query
    response = answered.response()
    if response is None:
        return QueryOutcome(query.prompt, query.stamp_ns, "NO_RESPONSE", None, query.tolerance_m)
    t = response.timings
    timings = {
        "wait_frame_s": t.wait_frame_s,
        "model_s": t.model_s,
        "lift_s": t.lift_s,
        "tf_s": t.tf_s,
        "total_s": t.total_s,
        "processing_s": t.total_s - t.wait_frame_s,
    }
    error = None
    if response.points:
        p = response.points[0].point.point
        truth = query.point
        error = ((p.x - truth[0]) ** 2 + (p.y - truth[1]) ** 2 + (p.z - truth[2]) ** 2) ** 0.5
    return QueryOutcome(
        query.prompt,
        query.stamp_ns,
        status_name(response.status),
        error,
        query.tolerance_m,
        timings,
        message=str(response.message),
    )


def status_name(code: int) -> str:
    try:
        return Status(code).name
    except ValueError:
        return f"STATUS_{code}"


class BagSession:
    """A refer node process and an in-process client/replayer on the current (isolated) graph.

    ``start`` brings the graph up (SetupError if the node dies, never serves or never subscribes)
    and leaves ``graph`` usable for extra subscriptions; ``ask`` replays the bag once while the
    queries are sent; ``close`` (or the context manager) stops everything it started.
    """

    def __init__(
        self,
        bag: BagReader,
        cams: CameraTopics,
        params: dict[str, object],
        *,
        node_name: str,
        workdir: Path,
        rate: float = 1.0,
        reliable_camera: bool = True,
    ) -> None:
        self.bag, self.cams, self.params = bag, cams, params
        self.node_name, self.workdir = node_name, workdir
        self.rate, self.reliable_camera = rate, reliable_camera
        self.node: Any = None
        self.graph: Any = None
        self._client: Any = None
        self._replayer: Any = None

    def __enter__(self) -> BagSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        from roborefer_ros.ros.graph import GraphClient, NodeProcess, refer_node_args
        from roborefer_ros.srv import RefPoint
        from roborefer_ros.tools.replay import Replayer

        cams = self.cams
        remaps = {
            "color/image_raw": cams.color,
            "aligned_depth_to_color/image_raw": cams.depth,
            "color/camera_info": cams.info,
        }
        self.node = NodeProcess(
            "roborefer_ros.tools.refer_node",
            refer_node_args(self.node_name, self.params, remaps),
            int(os.environ["ROS_DOMAIN_ID"]),
            self.workdir / "node.log",
        )
        self.graph = GraphClient(f"roborefer_bag_session_{os.getpid()}")
        self._client = self.graph.node.create_client(RefPoint, f"/{self.node_name}/refer")
        deadline = time.monotonic() + SERVICE_WAIT_S
        while not self._client.wait_for_service(timeout_sec=0.2):
            # A configuration the node refuses ends it (exit code 2) with one line naming why.
            node = self.node
            if not node.alive():
                raise SetupError(
                    f"the refer node exited (code {node.proc.returncode}): {node.last_words()}"
                )
            if time.monotonic() > deadline:
                raise SetupError(
                    f"the refer node did not serve /{self.node_name}/refer within "
                    f"{SERVICE_WAIT_S:g} s: {node.last_words()} (log {node.log_path})"
                )
        overrides: dict[str, TopicQos] = {}
        if self.reliable_camera:
            for topic in (cams.color, cams.depth, cams.info):
                depth = max(self.bag.topics[topic].qos.depth, 10)
                overrides[topic] = TopicQos(True, False, depth)
        self._replayer = Replayer(
            self.graph.node, self.bag, rate=self.rate, qos_overrides=overrides
        )
        needed = [cams.color, cams.depth, cams.info, *(t for t in ("/tf",) if t in self.bag.topics)]
        missing = self._replayer.wait_for_subscribers(needed, timeout_s=SUBSCRIBER_WAIT_S)
        if missing:
            raise SetupError(
                f"the refer node never subscribed to {', '.join(missing)}:\n"
                f"{self.node.log()[-2000:]}"
            )
        time.sleep(SETTLE_S)

    def ask(
        self,
        queries: Sequence[ReferringQuery],
        target_frame: str,
        max_in_flight: int,
        hold: Hold | None = None,
    ) -> list[Answered]:
        """Replay the bag once, sending each query ``LEAD_S`` (bag time) ahead of its frame
        (``hold``: see QueryScheduler), and wait for the answers (frame wait + model timeout +
        10 s at most after the replay). Queries the node answered on another frame than theirs
        are asked again on another pass of the bag (``MAX_PASSES`` in all; the last answer is
        kept), each ``RETRY_LAG_S`` after its frame. Every query in stamp order."""
        if self._client is None or self._replayer is None:
            raise SetupError("BagSession.ask before start")
        ordered = sorted(queries, key=lambda q: q.stamp_ns)
        latest: dict[int, Answered] = {}
        pending: list[ReferringQuery] = ordered
        lead_ns = round(LEAD_S * 1e9)
        for _ in range(MAX_PASSES):
            answered = self._ask_once(pending, target_frame, lead_ns, max_in_flight, hold)
            latest.update((id(a.query), a) for a in answered)
            pending = [a.query for a in answered if a.on_other_frame()]
            if not pending or not self.node.alive():
                break
            lead_ns = -round(RETRY_LAG_S * 1e9)
        return [latest[id(q)] for q in ordered]

    def _ask_once(
        self,
        queries: Sequence[ReferringQuery],
        target_frame: str,
        lead_ns: int,
        max_in_flight: int,
        hold: Hold | None,
    ) -> list[Answered]:
        """One replay of the bag with its queries scheduled along it; their answers."""
        scheduler = QueryScheduler(
            self._client, queries, target_frame, lead_ns, max_in_flight, hold
        )
        self._replayer.play(threading.Event(), on_message=scheduler.on_message)
        scheduler.replay_done()
        wait_s = seconds_param(self.params, "frame_wait_timeout_s", FRAME_WAIT_S)
        model_s = seconds_param(self.params, "model_timeout_s", 30.0)
        return scheduler.collect(wait_s + model_s + 10.0, self.node.alive)

    def close(self) -> int | None:
        """Stop the client graph and the node; the node's exit code (None if never started)."""
        if self.graph is not None:
            self.graph.close()
            self.graph = None
        code = None
        if self.node is not None:
            code = self.node.stop()
        return code
