"""The transport floor of ``roborefer-bench-graph cpu``: subscribe topics raw, do nothing.

    python -m roborefer_ros.tools.raw_subscriber color/image_raw \\
        aligned_depth_to_color/image_raw color/camera_info --reliable

A bare rclpy process that receives every message of the given topics, still serialized, on a
single-threaded executor and drops it: what any Python node that takes a camera stream pays
before it does anything with it. The benchmark runs it beside the refer node on the same stream,
so the node's CPU reads as a ratio to this floor. Runs until SIGINT/SIGTERM, then prints one
JSON line with the number of messages it received; exit code 0.

``--tf-lateness``: also subscribe /tf as a TF listener does (reliable, keep last 100), take
everything on one cheap loop, and at exit print one JSON line with how late each /tf sample was
taken after its writer wrote it (the middleware's source timestamp; same host, same clock):
what ``roborefer-bench-graph lateness`` measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m roborefer_ros.tools.raw_subscriber",
        description=(__doc__ or "").splitlines()[0],
    )
    parser.add_argument("topics", nargs="+", help="topics to subscribe (Image or CameraInfo)")
    parser.add_argument("--reliable", action="store_true", help="reliable QoS (else best effort)")
    parser.add_argument("--depth", type=int, default=5, help="history depth (default 5)")
    parser.add_argument(
        "--tf-lateness", action="store_true", help="also take /tf; print its lateness at exit"
    )
    args = parser.parse_args(argv)
    if args.depth < 1:
        parser.error(f"--depth must be >= 1, got {args.depth}")

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from sensor_msgs.msg import CameraInfo, Image

    rclpy.init(args=[sys.argv[0]], signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("raw_subscriber", start_parameter_services=False)
    reliability = ReliabilityPolicy.RELIABLE if args.reliable else ReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(depth=args.depth, reliability=reliability)

    received = [0]

    def drop(_data: Any) -> None:
        received[0] += 1

    if args.tf_lateness:
        return _tf_lateness(node, args.topics, qos)
    for topic in args.topics:
        msg_type = CameraInfo if topic.endswith("camera_info") else Image
        node.create_subscription(msg_type, topic, drop, qos, raw=True)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    with contextlib.suppress(KeyboardInterrupt, ExternalShutdownException):
        stop.wait()
    executor.shutdown(timeout_sec=2.0)
    node.destroy_node()
    rclpy.try_shutdown()
    print(json.dumps({"received": received[0]}), flush=True)
    return 0


def _tf_lateness(node: Any, topics: list[str], qos: Any) -> int:
    """Take the camera topics raw and /tf on one TakeLoop thread (cheap, so what shows is the
    middleware's delay, not this process's); at SIGINT/SIGTERM print the lateness summary."""
    import rclpy
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage

    from roborefer_ros.ros.take_loop import TakeLoop
    from roborefer_ros.ros.tf import TF_QOS

    lateness_s: list[float] = []

    def on_tf(_msg: Any, info: dict[str, Any]) -> None:
        # taken now, written then: the writer's own clock, whatever the stamps say
        lateness_s.append((time.time_ns() - int(info["source_timestamp"])) * 1e-9)

    loop = TakeLoop("tf_lateness", context=node.context)
    for topic in topics:
        msg_type = CameraInfo if topic.endswith("camera_info") else Image
        loop.subscribe(msg_type, topic, lambda _data: None, qos, raw=True)
    loop.subscribe(TFMessage, "/tf", on_tf, TF_QOS, with_info=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    loop.close()
    node.destroy_node()
    rclpy.try_shutdown()
    print(json.dumps(lateness_summary(lateness_s)), flush=True)
    return 0


def lateness_summary(lateness_s: list[float]) -> dict[str, float | int]:
    """Count, p50, p99, max (s) and how many samples came over 0.5 s and 1 s late."""
    ordered = sorted(lateness_s)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))], 3) if n else 0.0

    return {
        "samples": n,
        "p50_s": at(0.5),
        "p99_s": at(0.99),
        "max_s": round(ordered[-1], 3) if n else 0.0,
        "over_0_5_s": sum(x > 0.5 for x in ordered),
        "over_1_s": sum(x > 1.0 for x in ordered),
    }


if __name__ == "__main__":
    raise SystemExit(main())
