"""Benchmarks of a live refer node process: CPU on a camera stream, memory and latency over calls.

    python -m roborefer_ros.tools.bench_graph cpu --seconds 20 --rate 30 --size 1280x720
    python -m roborefer_ros.tools.bench_graph soak --calls 10000
    python -m roborefer_ros.tools.bench_graph soak --source bag:data/bags/tabletop_static
    python -m roborefer_ros.tools.bench_graph lateness --stalls 10 [--no-profile]

``cpu``: the node subscribed to a 30 Hz aligned RGB-D stream (rgb8 + 16UC1 + camera_info + /tf)
and asked nothing: its CPU share (utime + stime from /proc) and RSS; this is the cost of doing no
per-frame work. In the same run and window, the transport floor: a bare process that subscribes
the same three topics raw and drops every message (``roborefer_ros.tools.raw_subscriber``), so
the node's figure reads as a ratio (``node_cpu_percent``, ``floor_cpu_percent``); the node's CPU
is also split into the middleware's own threads (``dds.*``) and the rest. ``soak``: the same
node answering N RefPoint calls (ground-truth backend, the latest frame) while the stream runs:
RSS at start and end, status counts, and latency p50/p95 per tenth of the run (drift).
``lateness``: how late /tf reaches a listener that takes the same 30 Hz camera stream and is
stopped (SIGSTOP) for ``STALL_S`` every few seconds, as a loaded machine stalls a process: its
shared-memory queue overflows, samples are lost, and a reliable /tf reader holds every later
sample back until the writer repairs the lost one at its next heartbeat (3 s by default, 100 ms
with ``config/fastdds_profile.xml``). Scripts that print numbers, not tests.

Every process runs with ``config/fastdds_profile.xml`` (``--no-profile`` leaves it out) and on
one of two transports: ``--transport shm`` (default) is Fast DDS shared memory only, 8 MB
messages, discovery over shared memory too (nothing leaves the host); ``--transport localhost``
is ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, under which rmw_fastrtps installs its own
transports (shared memory with default segments plus UDP on loopback, so messages are cut into
64 kB fragments) and ignores ``FASTDDS_BUILTIN_TRANSPORTS``.

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
import signal
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

from roborefer_ros.tools.cli import positive_float, positive_int, size_text
from roborefer_ros.tools.dds_profile import PROFILE_ENV, apply_profile


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds used, RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu_s, rss


SHM_ONLY = "SHM?max_msg_size=8MB&sockets_size=32MB"
STALL_S = 0.3  # lateness: how long the listener is stopped each time
STALL_GAP_S = 2.5  # and how long it runs in between
IDLE_CALLS = 5  # cpu: calls after the measured window, each after IDLE_GAP_S of idling
IDLE_GAP_S = 1.0


def _environment(transport: str, profile: bool) -> dict[str, str | None]:
    """Set this process's (and so its children's) graph environment; what was set, for the
    report. Must run before rclpy is imported."""
    domain = int(os.environ.get("ROS_DOMAIN_ID", random.randint(50, 99)))
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    rmw = os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if transport == "shm":
        if rmw != "rmw_fastrtps_cpp":
            raise SystemExit(f"--transport shm needs rmw_fastrtps_cpp, not {rmw}")
        # Shared memory is the only transport: discovery too stays on this host.
        os.environ["FASTDDS_BUILTIN_TRANSPORTS"] = SHM_ONLY
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "SUBNET"
    else:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    if profile:
        apply_profile(os.environ)
    else:
        os.environ.pop(PROFILE_ENV, None)
    return {
        "transport": transport,
        "ROS_DOMAIN_ID": str(domain),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"],
        "FASTDDS_BUILTIN_TRANSPORTS": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS"),
        PROFILE_ENV: os.environ.get(PROFILE_ENV),
    }


def _threads_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a process (threads of one name summed)."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return out


def _foreign_publishers(graph: Any) -> int:
    """Publishers of /tf that are not this benchmark's own (its replayer or scene publisher)."""
    infos = graph.node.get_publishers_info_by_topic("/tf")
    return sum(info.node_name != graph.node.get_name() for info in infos)


def _middleware_share(before: dict[str, float], after: dict[str, float], wall: float) -> float:
    """% of one core used by the middleware's own threads (Fast DDS names them dds.*)."""
    used = sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith("dds."))
    return round(100 * used / wall, 1)


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
        # the stamps follow the publisher's schedule, which a loaded machine can delay
        "max_frame_age_s": 0.0,
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
    from roborefer_ros.tools.bag_session import FRAME_WAIT_S
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
        # tf_timeout_s: the node's default (0.5 s); config/fastdds_profile.xml keeps /tf on time
        "publish_annotated_image": args.annotate,
        "publish_markers": False,
    }
    remaps = {
        "color/image_raw": cams.color,
        "aligned_depth_to_color/image_raw": cams.depth,
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
    environment = _environment(args.transport, not args.no_profile)
    domain = int(os.environ["ROS_DOMAIN_ID"])
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
    floor: NodeProcess | None = None
    if args.mode == "cpu":
        floor_args = [
            stream.remaps.get(t, t)
            for t in ("color/image_raw", "aligned_depth_to_color/image_raw", "color/camera_info")
        ]
        if str(stream.params.get("qos_reliability", "best_effort")) == "reliable":
            floor_args.append("--reliable")
        floor = NodeProcess(
            "roborefer_ros.tools.raw_subscriber", floor_args, domain, work / "floor.log"
        )
    graph = GraphClient("roborefer_bench_graph")
    try:
        client: Any = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client, timeout_s=30)
        stream.start(graph)
        time.sleep(3.0)  # discovery, first frames
        cpu0, rss0 = _proc_stats(node.proc.pid)
        threads0 = _threads_cpu_s(node.proc.pid)
        floor0 = _proc_stats(floor.proc.pid)[0] if floor is not None else 0.0
        t0 = time.monotonic()
        result: dict[str, Any] = {"mode": args.mode, "source": args.source, "params": args.param}
        result["machine"] = machine()
        result["environment"] = environment
        if args.source == "synthetic":
            result.update(size=args.size, rate_hz=args.rate)
        if args.mode == "cpu":
            time.sleep(args.seconds)
            cpu1, rss1 = _proc_stats(node.proc.pid)
            threads1 = _threads_cpu_s(node.proc.pid)
            assert floor is not None
            floor1, floor_rss = _proc_stats(floor.proc.pid)
            wall = time.monotonic() - t0
            node_cpu = round(100 * (cpu1 - cpu0) / wall, 1)
            floor_cpu = round(100 * (floor1 - floor0) / wall, 1)
            result.update(
                seconds=round(wall, 1),
                frames_published=stream.frames(),
                node_cpu_percent=node_cpu,
                node_middleware_cpu_percent=_middleware_share(threads0, threads1, wall),
                floor_cpu_percent=floor_cpu,
                node_over_floor=round(node_cpu / floor_cpu, 3) if floor_cpu else None,
                node_rss_mb=round(rss1 / 2**20, 1),
                floor_rss_mb=round(floor_rss / 2**20, 1),
                load_average=[round(x, 2) for x in os.getloadavg()],
            )
            floor.stop()  # it prints how many messages it took (whole run: a check, not a rate)
            counts = [ln for ln in floor.log().splitlines() if ln.startswith('{"received"')]
            if counts:
                result["floor_messages_received"] = int(json.loads(counts[-1])["received"])
                result["messages_published"] = 3 * stream.frames()
            # What the idle node pays when a request does come: it takes every frame the
            # middleware holds (history_depth per topic) and deserializes the one it freezes.
            round_trips: list[float] = []
            waits: list[float] = []
            idle_statuses: dict[str, int] = {}
            query = stream.queries[0]
            for _ in range(IDLE_CALLS):
                time.sleep(IDLE_GAP_S)
                request = RefPoint.Request(
                    prompt=query.prompt,
                    target_frame=stream.target_frame,
                    mode=query.mode.value,
                    min_stamp=time_msg(0),
                )
                started = time.perf_counter()
                response = graph.call(client, request, timeout_s=30)
                round_trips.append(time.perf_counter() - started)
                name = status_name(response.status)
                idle_statuses[name] = idle_statuses.get(name, 0) + 1
                if not response.success:
                    print(f"[cpu] call after idle: {name} {response.message}", file=sys.stderr)
                waits.append(response.timings.wait_frame_s)
            result.update(
                after_idle_calls=IDLE_CALLS,
                after_idle_status_counts=idle_statuses,
                after_idle_round_trip_ms_p50=round(statistics.median(round_trips) * 1e3, 2),
                after_idle_wait_frame_ms_p50=round(statistics.median(waits) * 1e3, 2),
            )
        else:
            latencies: list[float] = []
            statuses: dict[str, int] = {}
            errors_m: list[float] = []
            outside = 0
            rss_samples = [rss0]
            foreign_seen = _foreign_publishers(graph)
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
                if (i + 1) % max(1, args.calls // 100) == 0:
                    foreign_seen = max(foreign_seen, _foreign_publishers(graph))
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
                # another graph on the same ROS_DOMAIN_ID (a shared machine): its /tf mixes in
                foreign_tf_publishers_seen=foreign_seen,
            )
        return result
    finally:
        stream.stop()
        graph.close()
        if floor is not None:
            floor.stop()
        code = node.stop()
        print(f"[bench_graph] node exit code {code}; log {work / 'node.log'}", file=sys.stderr)


def run_lateness(args: argparse.Namespace) -> dict[str, Any]:
    """/tf lateness at a listener that takes the camera stream and is stalled now and then."""
    environment = _environment(args.transport, not args.no_profile)
    domain = int(os.environ["ROS_DOMAIN_ID"])
    from roborefer_ros.ros.graph import GraphClient, NodeProcess
    from roborefer_ros.tools.machine_info import machine

    work = Path(tempfile.mkdtemp(prefix="roborefer-bench-lateness-"))
    stream = _synthetic_stream(args, work)
    listener = NodeProcess(
        "roborefer_ros.tools.raw_subscriber",
        ["color/image_raw", "aligned_depth_to_color/image_raw", "--reliable", "--tf-lateness"],
        domain,
        work / "listener.log",
    )
    graph = GraphClient("roborefer_bench_lateness")
    try:
        stream.start(graph)
        time.sleep(3.0)  # discovery, first frames
        for _ in range(args.stalls):
            os.kill(listener.proc.pid, signal.SIGSTOP)
            time.sleep(STALL_S)
            os.kill(listener.proc.pid, signal.SIGCONT)
            time.sleep(STALL_GAP_S)
        time.sleep(2.0)  # let the last repair land
    finally:
        stream.stop()
        graph.close()
        code = listener.stop()
    lines = [line for line in listener.log().splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        raise RuntimeError(f"the listener failed (exit {code}); log {work / 'listener.log'}")
    return {
        "mode": "lateness",
        "machine": machine(),
        "environment": environment,
        "size": args.size,
        "rate_hz": args.rate,
        "stalls": args.stalls,
        "stall_s": STALL_S,
        "stall_gap_s": STALL_GAP_S,
        "tf_lateness": json.loads(lines[-1]),
        "frames_published": stream.frames(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="roborefer-bench-graph", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["cpu", "soak", "lateness"])
    p.add_argument("--seconds", type=positive_float, default=20.0, help="cpu: how long to stream")
    p.add_argument("--calls", type=positive_int, default=10_000, help="soak: RefPoint calls")
    p.add_argument("--stalls", type=positive_int, default=10, help="lateness: listener stalls")
    p.add_argument("--rate", type=positive_float, default=30.0, help="camera rate (Hz)")
    p.add_argument("--size", type=size_text, default="1280x720")
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
    p.add_argument(
        "--transport",
        choices=["shm", "localhost"],
        default="shm",
        help="shm: Fast DDS shared memory only (default); localhost: "
        "ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and rmw_fastrtps's own transports",
    )
    p.add_argument(
        "--no-profile",
        action="store_true",
        help="run without config/fastdds_profile.xml (Fast DDS's 3 s heartbeat)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run_lateness(args) if args.mode == "lateness" else run(args)
    print(json.dumps(result) if args.json else result, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
