"""Benchmarks of a live refer node process: CPU on a camera stream, memory and latency over calls.

    python -m roborefer_ros.tools.bench_graph cpu --seconds 20 --rate 30 --size 1280x720
    python -m roborefer_ros.tools.bench_graph soak --calls 10000
    python -m roborefer_ros.tools.bench_graph soak --source bag:data/bags/tabletop_static

``cpu``: the node subscribed to a 30 Hz aligned RGB-D stream (rgb8 + 16UC1 + camera_info + /tf)
and asked nothing: its CPU share (utime + stime from /proc) and RSS; this is the cost of doing no
per-frame work. ``soak``: the same node answering N RefPoint calls (ground-truth backend, the
latest frame) while the stream runs: RSS at start and end, status counts, and latency p50/p95
per tenth of the run (drift). Scripts that print numbers, not tests.

``--source synthetic`` (default) renders the stream here; ``--source bag:PATH`` replays a rosbag2
bag in a loop instead (recorded timing, camera topics offered reliable, as ``roborefer-bag-eval``
does) and asks the bag's own ``referring.json`` prompts in turn, each compared with its ground-truth
point. Asking the latest frame needs a camera that does not move (``tabletop_static``): every
prompt's pixel is then the same in every frame, so the queries are stored with stamp 0 (any frame).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds used, RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu_s, rss


def _environment() -> int:
    domain = int(os.environ.get("ROS_DOMAIN_ID", random.randint(50, 99)))
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "SHM?max_msg_size=8MB&sockets_size=32MB")
    return domain


@dataclass
class _Stream:
    """What the soak asks and where the camera comes from: the node's parameters and remaps,
    the queries (asked in turn), and start/stop of the camera stream."""

    params: dict[str, Any]
    remaps: dict[str, str]
    target_frame: str
    queries: tuple[Any, ...]
    start: Callable[[Any], None]
    stop: Callable[[], None]
    frames: Callable[[], int]


def _synthetic_stream(args: argparse.Namespace, work: Path) -> _Stream:
    from roborefer_ros.core.referring import ReferringQuery, ReferringSet, dump_referring
    from roborefer_ros.core.request import Mode
    from roborefer_ros.ros.graph import ScenePublisher
    from roborefer_ros.sim.analytic_scene import SyntheticScene

    width, height = (int(v) for v in args.size.split("x"))
    scene = SyntheticScene(width=width, height=height)
    red = scene.boxes[0].top_center
    u, v = scene.pixel_of(red, 0.0)
    point = (float(red[0]), float(red[1]), float(red[2]))
    # stamp 0 = any frame: the static scene's pixel is the same in every frame
    query = ReferringQuery("the red box", 0, (u, v), point, Mode.LOCATE, 0.01)
    dump_referring(ReferringSet("base_link", (query,)), work / "referring.json")
    params = {
        "backend": "ground_truth",
        "referring_file": str(work / "referring.json"),
        "qos_reliability": "reliable",
        "frame_wait_timeout_s": 5.0,
        "tf_timeout_s": 4.0,
        "publish_annotated_image": args.annotate,
    }
    publisher: list[Any] = []

    def start(graph: Any) -> None:
        publisher.append(ScenePublisher(graph, scene, rate_hz=args.rate))
        publisher[0].start(duration_s=1e9)

    def stop() -> None:
        if publisher:
            publisher[0].stop()

    return _Stream(
        params,
        {},
        "",  # the node's default target frame
        (query,),
        start,
        stop,
        lambda: len(publisher[0].published) if publisher else 0,
    )


def _bag_stream(args: argparse.Namespace, bag_path: str, work: Path) -> _Stream:
    """A bag replayed in a loop from this process; its referring prompts at stamp 0."""
    from roborefer_ros.bags.reader import BagReader, TopicQos
    from roborefer_ros.core.referring import ReferringSet, dump_referring, load_referring
    from roborefer_ros.tools.bag_session import FRAME_WAIT_S, TF_WAIT_S
    from roborefer_ros.tools.replay import Replayer

    bag = BagReader(bag_path)
    cams = bag.camera_topics()
    truth = load_referring(bag.referring_path())
    by_prompt: dict[str, Any] = {}
    for q in truth.queries:  # one per prompt: a static camera sees each the same in every frame
        by_prompt.setdefault(q.prompt, dataclasses.replace(q, stamp_ns=0))
    queries = tuple(by_prompt.values())
    dump_referring(ReferringSet(truth.target_frame, queries), work / "referring.json")
    params = {
        "backend": "ground_truth",
        "referring_file": str(work / "referring.json"),
        "qos_reliability": "reliable",
        "max_frame_age_s": 0.0,  # the bag's stamps are from its recording
        "frame_wait_timeout_s": FRAME_WAIT_S,
        "tf_timeout_s": TF_WAIT_S,
        "publish_annotated_image": args.annotate,
        "publish_markers": False,
    }
    remaps = {
        "color/image_raw": cams.color,
        "aligned_depth/image_raw": cams.depth,
        "color/camera_info": cams.info,
    }
    stop_event = threading.Event()
    passes = [0]  # complete passes over the bag
    threads: list[threading.Thread] = []

    def start(graph: Any) -> None:
        overrides = {
            t: TopicQos(True, False, max(bag.topics[t].qos.depth, 10))
            for t in (cams.color, cams.depth, cams.info)
        }
        replayer = Replayer(graph.node, bag, qos_overrides=overrides)
        missing = replayer.wait_for_subscribers([cams.color, cams.depth, cams.info], timeout_s=30.0)
        if missing:
            raise RuntimeError(f"the refer node never subscribed to {', '.join(missing)}")
        time.sleep(1.0)  # the readers' side of discovery

        def loop() -> None:
            while not stop_event.is_set():
                replayer.play(stop_event)
                passes[0] += 1

        threads.append(threading.Thread(target=loop, name="bag_loop", daemon=True))
        threads[0].start()

    def stop() -> None:
        stop_event.set()
        for t in threads:
            t.join(timeout=5.0)
        bag.close()

    frames_per_pass = bag.topics[cams.color].count
    return _Stream(
        params,
        remaps,
        truth.target_frame,
        queries,
        start,
        stop,
        lambda: passes[0] * frames_per_pass,
    )


def _error_m(response: Any, query: Any) -> float:
    p = response.points[0].point.point
    return math.dist((p.x, p.y, p.z), query.point)


def run(args: argparse.Namespace) -> dict[str, Any]:
    domain = _environment()
    from roborefer_ros.ros.conversions import time_msg
    from roborefer_ros.ros.graph import GraphClient, NodeProcess, refer_node_args
    from roborefer_ros.srv import RefPoint
    from roborefer_ros.tools.bag_session import status_name
    from roborefer_ros.tools.machine_info import machine

    work = Path(tempfile.mkdtemp(prefix="roborefer-bench-graph-"))
    if args.source.startswith("bag:"):
        stream = _bag_stream(args, args.source.removeprefix("bag:"), work)
    elif args.source == "synthetic":
        stream = _synthetic_stream(args, work)
    else:
        raise SystemExit(f"--source must be synthetic or bag:PATH, got {args.source!r}")
    for item in args.param:  # NAME=VALUE, verbatim, over the stream's defaults
        name, _, value = item.partition("=")
        stream.params[name] = value
    node = NodeProcess(
        "roborefer_ros.tools.refer_node",
        refer_node_args("refer_node", stream.params, stream.remaps),
        domain,
        work / "node.log",
    )
    graph = GraphClient("roborefer_bench_graph")
    try:
        client: Any = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client, timeout_s=30)
        stream.start(graph)
        time.sleep(3.0)  # discovery, first frames
        cpu0, rss0 = _proc_stats(node.proc.pid)
        t0 = time.monotonic()
        result: dict[str, Any] = {"mode": args.mode, "source": args.source, "params": args.param}
        result["machine"] = machine()
        if args.source == "synthetic":
            result.update(size=args.size, rate_hz=args.rate)
        if args.mode == "cpu":
            time.sleep(args.seconds)
            cpu1, rss1 = _proc_stats(node.proc.pid)
            wall = time.monotonic() - t0
            result.update(
                seconds=round(wall, 1),
                frames_published=stream.frames(),
                node_cpu_percent=round(100 * (cpu1 - cpu0) / wall, 1),
                node_rss_mb=round(rss1 / 2**20, 1),
            )
        else:
            latencies: list[float] = []
            statuses: dict[str, int] = {}
            errors_m: list[float] = []
            outside = 0
            rss_samples = [rss0]
            for i in range(args.calls):
                query = stream.queries[i % len(stream.queries)]
                request = RefPoint.Request(
                    prompt=query.prompt,
                    target_frame=stream.target_frame,
                    mode=query.mode.value,
                    min_stamp=time_msg(0),
                )
                started = time.perf_counter()
                response = graph.call(client, request, timeout_s=30)
                latencies.append(time.perf_counter() - started)
                name = status_name(response.status)
                statuses[name] = statuses.get(name, 0) + 1
                if response.success and response.points:
                    errors_m.append(_error_m(response, query))
                    outside += errors_m[-1] > query.tolerance_m
                elif statuses[name] <= 3:
                    print(f"[soak] call {i}: {name} {response.message}", file=sys.stderr)
                if (i + 1) % max(1, args.calls // 10) == 0:
                    rss_samples.append(_proc_stats(node.proc.pid)[1])
                    print(
                        f"[soak] {i + 1}/{args.calls} calls, node RSS "
                        f"{rss_samples[-1] / 2**20:.1f} MB, last p50 "
                        f"{statistics.median(latencies[-100:]) * 1000:.1f} ms, {statuses}",
                        file=sys.stderr,
                        flush=True,
                    )
            cpu1, rss1 = _proc_stats(node.proc.pid)
            tenths = np.array_split(np.asarray(latencies) * 1000, 10)
            result.update(
                calls=args.calls,
                prompts=len(stream.queries),
                status_counts=statuses,
                ok_outside_tolerance=outside,
                error_m_max=round(max(errors_m), 4) if errors_m else None,
                rss_start_mb=round(rss0 / 2**20, 1),
                rss_end_mb=round(rss1 / 2**20, 1),
                rss_mb_by_decile=[round(r / 2**20, 1) for r in rss_samples],
                round_trip_ms_p50=round(statistics.median(latencies) * 1000, 2),
                round_trip_ms_p95=round(float(np.percentile(latencies, 95)) * 1000, 2),
                round_trip_ms_max=round(max(latencies) * 1000, 1),
                calls_over_1s=sum(t > 1.0 for t in latencies),
                p50_ms_by_decile=[round(float(np.median(d)), 2) for d in tenths if len(d)],
                p95_ms_by_decile=[round(float(np.percentile(d, 95)), 2) for d in tenths if len(d)],
                node_cpu_s=round(cpu1 - cpu0, 1),
                seconds=round(time.monotonic() - t0, 1),
                frames_published=stream.frames(),
                node_alive=node.alive(),
            )
        return result
    finally:
        stream.stop()
        graph.close()
        code = node.stop()
        print(f"[bench_graph] node exit code {code}; log {work / 'node.log'}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="roborefer-bench-graph", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["cpu", "soak"])
    p.add_argument("--seconds", type=float, default=20.0, help="cpu: how long to stream")
    p.add_argument("--calls", type=int, default=10_000, help="soak: RefPoint calls")
    p.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    p.add_argument("--size", default="1280x720")
    p.add_argument(
        "--source",
        default="synthetic",
        help="camera stream: synthetic (rendered here) or bag:PATH (replayed in a loop)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a refer node parameter over the defaults (repeatable), e.g. tf_timeout_s=10",
    )
    p.add_argument("--annotate", action="store_true", help="soak: also draw annotated images")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args)
    print(json.dumps(result) if args.json else result, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
