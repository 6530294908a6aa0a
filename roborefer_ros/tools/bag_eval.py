"""``roborefer-bag-eval BAG_DIR``: score the refer node on a recorded bag against its ground truth.

Starts a refer node in its own process (camera topics remapped to the bag's), replays the bag in
this process, and asks every query of the bag's ``referring.json`` about the frame with the
query's stamp (``min_stamp``), sending each request a little ahead of its frame so the node
waits for exactly that frame. Each answer is compared with the true 3D point. Everything runs on
an isolated graph: ROS_DOMAIN_ID (random in 50-99 unless set), localhost discovery, FastDDS
shared memory big enough for whole frames. ``--offline-baseline`` skips ROS altogether and
compares naive single-pixel depth with the node's robust lifting on the same bag.

Exit 0 when the evaluation ran (whatever the score), 2 for a bad bag or referring file, 3 when the
node could not be started or never saw the camera topics. With ``--json`` the last line is one
JSON object (``n``, ``succeeded``, ``success_rate``, ``median_error_m``, ``p95_error_m``,
``status_counts``, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roborefer_ros.bags.errors import BagError
from roborefer_ros.bags.reader import BagMessage, BagReader, CameraTopics, TopicQos
from roborefer_ros.core.referring import (
    ReferringFileError,
    ReferringQuery,
    ReferringSet,
    load_referring,
)
from roborefer_ros.core.status import Status
from roborefer_ros.eval.bag_baseline import format_report, run_baseline
from roborefer_ros.eval.summary import QueryOutcome, format_summary, summarize

NODE_NAME = "bag_eval_refer_node"
SHM_TRANSPORT = "SHM?max_msg_size=8MB&sockets_size=32MB"
LEAD_S = 0.5  # bag seconds a request is sent ahead of its frame
# A reliable sample the reader lost (a fragment of a big image, or one sent before the reader
# had matched the writer) is repaired at the next heartbeat, ~3 s later: wait past that.
FRAME_WAIT_S = 5.0
TF_WAIT_S = 4.0
SETTLE_S = 1.0  # after the writers see their readers, for the readers to see the writers
EXIT_BAD_INPUT, EXIT_NO_GRAPH = 2, 3


class SetupError(RuntimeError):
    """The live graph could not be brought up (node died, service or subscriptions missing)."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="roborefer-bag-eval", description=__doc__.splitlines()[0])
    parser.add_argument("bag", help="rosbag2 bag directory")
    parser.add_argument("--backend", default="ground_truth", help="refer node backend")
    parser.add_argument("--referring", help="ground truth file (default: BAG/referring.json)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="refer node parameter (repeatable; overrides the evaluation defaults)",
    )
    parser.add_argument("--color-topic")
    parser.add_argument("--depth-topic")
    parser.add_argument("--info-topic")
    parser.add_argument("--rate", type=float, default=1.0, help="replay speed factor")
    parser.add_argument(
        "--qos",
        choices=("reliable", "recorded"),
        default="reliable",
        help="camera topics reliable (no lost frames; default) or with the recorded QoS",
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=4, help="unanswered requests at most (default 4)"
    )
    parser.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: env or 50-99)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument(
        "--offline-baseline",
        action="store_true",
        help="no ROS: naive single-pixel depth vs robust lifting on the bag's frames",
    )
    args = parser.parse_args(argv)
    if not args.rate > 0.0:
        parser.error(f"--rate must be > 0, got {args.rate}")
    for item in args.param:
        if "=" not in item or not item.split("=", 1)[0]:
            parser.error(f"--param expects NAME=VALUE, got {item!r}")
    return args


def configure_environment(domain_id: int | None) -> int:
    """Isolate the graph this process and its children use; call before importing rclpy."""
    if domain_id is None:
        domain_id = int(os.environ.get("ROS_DOMAIN_ID") or random.randint(50, 99))
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = SHM_TRANSPORT
    return domain_id


def node_parameters(
    args: argparse.Namespace, referring_path: Path, n_queries: int
) -> dict[str, object]:
    """Evaluation defaults (frames by stamp, never stale, enough room for in-flight requests),
    then the caller's --param values verbatim."""
    params: dict[str, object] = {
        "backend": args.backend,
        "qos_reliability": "reliable" if args.qos == "reliable" else "best_effort",
        "qos_depth": 10,
        "max_frame_age_s": 0.0,
        "frame_wait_timeout_s": FRAME_WAIT_S + LEAD_S / args.rate,
        "tf_timeout_s": TF_WAIT_S,
        "frame_ring_size": 60,
        "sync_queue_size": 30,
        "max_pending_requests": min(256, max(16, n_queries)),
        "publish_annotated_image": False,
        "publish_markers": False,
    }
    if args.backend == "ground_truth":
        params["referring_file"] = str(referring_path)
    for item in args.param:
        name, value = item.split("=", 1)
        params[name] = value
    return params


@dataclass
class _Pending:
    query: ReferringQuery
    future: Any = None


class QueryScheduler:
    """Sends the queries in stamp order from its own thread: each once the replay is within
    ``lead_ns`` of its stamp, with at most ``max_in_flight`` unanswered (a burst of concurrent
    requests would only measure executor contention). Frames replayed meanwhile wait in the
    node's ring, and ``min_stamp`` still selects the query's own frame."""

    def __init__(
        self, client: Any, referring: ReferringSet, lead_ns: int, max_in_flight: int
    ) -> None:
        from roborefer_ros.srv import RefPoint

        self._request_cls = RefPoint.Request
        self._client, self._referring = client, referring
        self._lead_ns, self._max_in_flight = lead_ns, max_in_flight
        self._queue = sorted(referring.queries, key=lambda q: q.stamp_ns)
        self._progress_ns: float = -math.inf
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self.sent: list[_Pending] = []
        self._thread = threading.Thread(target=self._run, name="bag_eval_queries", daemon=True)
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
            target_frame=self._referring.target_frame,
            mode=query.mode.value,
            min_stamp=time_msg(query.stamp_ns),
        )
        self.sent.append(_Pending(query, self._client.call_async(request)))

    def collect(self, timeout_s: float, alive: Any) -> list[QueryOutcome]:
        """Wait for every answer (until ``timeout_s`` or ``alive()`` turns false); queries
        never sent or never answered count as NO_RESPONSE."""
        deadline = time.monotonic() + timeout_s
        while self._thread.is_alive() or any(not p.future.done() for p in self.sent):
            if time.monotonic() > deadline or not alive():
                break
            time.sleep(0.01)
        self._stop.set()
        self._thread.join(timeout=1.0)
        answered = {id(p.query): p for p in self.sent}
        return [_outcome(answered.get(id(q)) or _Pending(q)) for q in self._queue]


def _outcome(pending: _Pending) -> QueryOutcome:
    query = pending.query
    if pending.future is None or not pending.future.done():
        return QueryOutcome(query.prompt, query.stamp_ns, "NO_RESPONSE", None, query.tolerance_m)
    response = pending.future.result()
    t = response.timings
    timings = {
        "wait_frame_s": t.wait_frame_s,
        "model_s": t.model_s,
        "lift_s": t.lift_s,
        "tf_s": t.tf_s,
        "total_s": t.total_s,
        "processing_s": t.total_s - t.wait_frame_s,
    }
    try:
        status = Status(response.status).name
    except ValueError:
        status = f"STATUS_{response.status}"
    error = None
    if response.points:
        p = response.points[0].point.point
        truth = query.point
        error = ((p.x - truth[0]) ** 2 + (p.y - truth[1]) ** 2 + (p.z - truth[2]) ** 2) ** 0.5
    return QueryOutcome(query.prompt, query.stamp_ns, status, error, query.tolerance_m, timings)


def _seconds(params: dict[str, object], name: str, default: float) -> float:
    try:
        return float(str(params.get(name, default)))
    except ValueError:
        return default


def run_live(
    bag: BagReader,
    cams: CameraTopics,
    referring: ReferringSet,
    params: dict[str, object],
    args: argparse.Namespace,
    domain_id: int,
    workdir: Path,
) -> list[QueryOutcome]:
    """Node process + in-process replay + requests; SetupError when the graph does not come up."""
    from roborefer_ros.srv import RefPoint
    from roborefer_ros.testing.graph import GraphClient, NodeProcess, refer_node_args
    from roborefer_ros.tools.replay import Replayer

    remaps = {
        "color/image_raw": cams.color,
        "aligned_depth/image_raw": cams.depth,
        "color/camera_info": cams.info,
    }
    node = NodeProcess(
        "roborefer_ros.tools.node",
        refer_node_args(NODE_NAME, params, remaps),
        domain_id,
        workdir / "node.log",
    )
    graph = None
    try:
        graph = GraphClient(f"roborefer_bag_eval_{os.getpid()}")
        client: Any = graph.node.create_client(RefPoint, f"/{NODE_NAME}/refer")
        deadline = time.monotonic() + 60.0
        while not client.wait_for_service(timeout_sec=0.2):
            # A node whose configuration failed keeps running without the service: its ERROR
            # line is the earliest sign.
            if not node.alive() or "[ERROR]" in node.log() or time.monotonic() > deadline:
                raise SetupError(f"the refer node did not start:\n{node.log()[-3000:]}")
        overrides: dict[str, TopicQos] = {}
        if args.qos == "reliable":
            for topic in (cams.color, cams.depth, cams.info):
                overrides[topic] = TopicQos(True, False, max(bag.topics[topic].qos.depth, 10))
        replayer = Replayer(graph.node, bag, rate=args.rate, qos_overrides=overrides)
        needed = [cams.color, cams.depth, cams.info, *(t for t in ("/tf",) if t in bag.topics)]
        missing = replayer.wait_for_subscribers(needed, timeout_s=15.0)
        if missing:
            raise SetupError(
                f"the refer node never subscribed to {', '.join(missing)}:\n{node.log()[-2000:]}"
            )
        time.sleep(SETTLE_S)
        scheduler = QueryScheduler(client, referring, round(LEAD_S * 1e9), args.max_in_flight)
        replayer.play(threading.Event(), on_message=scheduler.on_message)
        scheduler.replay_done()
        wait_s = _seconds(params, "frame_wait_timeout_s", FRAME_WAIT_S)
        model_s = _seconds(params, "model_timeout_s", 30.0)
        return scheduler.collect(wait_s + model_s + 10.0, node.alive)
    finally:
        if graph is not None:
            graph.close()
        node.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    topics = {"color": args.color_topic, "depth": args.depth_topic, "info": args.info_topic}
    try:
        bag = BagReader(args.bag)
        cams = bag.camera_topics(**topics)
        referring_path = Path(args.referring) if args.referring else bag.referring_path()
        referring = load_referring(referring_path)
    except (BagError, ReferringFileError) as err:
        print(f"roborefer-bag-eval: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with bag:
        duration_s = (bag.end_ns - bag.start_ns) * 1e-9
        print(
            f"bag {bag.path}: {bag.message_count} messages, {duration_s:.1f} s; camera "
            f"{cams.color}, {cams.depth}, {cams.info}; {len(referring.queries)} queries"
        )
        if args.offline_baseline:
            report = run_baseline(bag, cams, referring)
            print(format_report(report))
            if args.json:
                print(json.dumps(report.to_json_dict()))
            return 0
        domain_id = configure_environment(args.domain_id)
        params = node_parameters(args, referring_path.resolve(), len(referring.queries))
        workdir = Path(tempfile.mkdtemp(prefix="roborefer-bag-eval-"))
        print(f"domain {domain_id}; backend {args.backend}; node log {workdir / 'node.log'}")
        try:
            outcomes = run_live(bag, cams, referring, params, args, domain_id, workdir)
        except SetupError as err:
            print(f"roborefer-bag-eval: {err}", file=sys.stderr)
            return EXIT_NO_GRAPH
    summary = summarize(outcomes)
    print(format_summary(summary, f"bag evaluation ({args.backend})"))
    if args.json:
        extra = {"backend": args.backend, "bag": str(bag.path), "rate": args.rate}
        print(json.dumps({**summary.to_json_dict(), **extra}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
