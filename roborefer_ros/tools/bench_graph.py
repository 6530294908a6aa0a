"""Benchmarks of a live refer node process: CPU on a camera stream, memory and latency over calls.

    python -m roborefer_ros.tools.bench_graph cpu --seconds 20 --rate 30 --size 1280x720
    python -m roborefer_ros.tools.bench_graph soak --calls 10000

``cpu``: the node subscribed to a 30 Hz aligned RGB-D stream (rgb8 + 16UC1 + camera_info + /tf)
and asked nothing: its CPU share (utime + stime from /proc) and RSS; this is the cost of doing no
per-frame work. ``soak``: the same node answering N RefPoint calls (ground-truth backend, the
frame addressed by its stamp) while the stream runs: RSS at start and end, and latency per decile
of the run (drift). Scripts that print numbers, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    domain = _environment()
    from roborefer_ros.core.referring import ReferringQuery, ReferringSet, dump_referring
    from roborefer_ros.core.request import Mode
    from roborefer_ros.srv import RefPoint
    from roborefer_ros.testing.graph import (
        GraphClient,
        NodeProcess,
        ScenePublisher,
        refer_node_args,
    )
    from roborefer_ros.testing.scene import SyntheticScene

    width, height = (int(v) for v in args.size.split("x"))
    scene = SyntheticScene(width=width, height=height)
    work = Path(tempfile.mkdtemp(prefix="roborefer-bench-graph-"))
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
    node = NodeProcess(
        "roborefer_ros.tools.node", refer_node_args("refer_node", params), domain, work / "node.log"
    )
    graph = GraphClient("roborefer_bench_graph")
    publisher = None
    try:
        client: Any = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client, timeout_s=30)
        publisher = ScenePublisher(graph, scene, rate_hz=args.rate)
        # pre-render once: the publisher's own rendering would dominate this process otherwise
        publisher.start(duration_s=1e9)
        time.sleep(3.0)  # discovery, first frames
        cpu0, rss0 = _proc_stats(node.proc.pid)
        t0 = time.monotonic()
        result: dict[str, Any] = {"mode": args.mode, "size": args.size, "rate_hz": args.rate}
        if args.mode == "cpu":
            time.sleep(args.seconds)
            cpu1, rss1 = _proc_stats(node.proc.pid)
            wall = time.monotonic() - t0
            frames = len(publisher.published)
            result.update(
                seconds=round(wall, 1),
                frames_published=frames,
                node_cpu_percent=round(100 * (cpu1 - cpu0) / wall, 1),
                node_rss_mb=round(rss1 / 2**20, 1),
            )
        else:
            latencies: list[float] = []
            statuses: dict[str, int] = {}
            rss_samples = [rss0]
            for i in range(args.calls):
                started = time.perf_counter()
                response = graph.call(client, RefPoint.Request(prompt="the red box"), timeout_s=30)
                latencies.append(time.perf_counter() - started)
                name = str(response.status)
                statuses[name] = statuses.get(name, 0) + 1
                if (i + 1) % max(1, args.calls // 10) == 0:
                    rss_samples.append(_proc_stats(node.proc.pid)[1])
                    print(
                        f"[soak] {i + 1}/{args.calls} calls, node RSS "
                        f"{rss_samples[-1] / 2**20:.1f} MB, last p50 "
                        f"{statistics.median(latencies[-100:]) * 1000:.1f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
            cpu1, rss1 = _proc_stats(node.proc.pid)
            deciles = np.array_split(np.asarray(latencies) * 1000, 10)
            result.update(
                calls=args.calls,
                status_counts=statuses,
                rss_start_mb=round(rss0 / 2**20, 1),
                rss_end_mb=round(rss1 / 2**20, 1),
                rss_mb_by_decile=[round(r / 2**20, 1) for r in rss_samples],
                round_trip_ms_p50=round(statistics.median(latencies) * 1000, 2),
                round_trip_ms_p95=round(float(np.percentile(latencies, 95)) * 1000, 2),
                p50_ms_by_decile=[round(float(np.median(d)), 2) for d in deciles if len(d)],
                node_cpu_s=round(cpu1 - cpu0, 1),
                seconds=round(time.monotonic() - t0, 1),
            )
        return result
    finally:
        if publisher is not None:
            publisher.stop()
        graph.close()
        node.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="roborefer-bench-graph", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["cpu", "soak"])
    p.add_argument("--seconds", type=float, default=20.0, help="cpu: how long to stream")
    p.add_argument("--calls", type=int, default=10_000, help="soak: RefPoint calls")
    p.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    p.add_argument("--size", default="1280x720")
    p.add_argument("--annotate", action="store_true", help="soak: also draw annotated images")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = run(args)
    print(json.dumps(result) if args.json else result, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
