"""``roborefer-bench-node``: the node's own cost per RefPoint call, everything but the model.

One call, as the node serves it: feed the newest serialized colour, depth and camera_info to the
sync ring and select the frame (``sync``: what the node does with the messages it takes from the
middleware; the take itself needs a graph, see ``roborefer-bench-graph``), deserialize it into a
``Frame`` (``convert``: ``frame_from_serialized``, inside the frame provider as in the node), run
``Referrer.refer`` with the
ground-truth backend (near-zero cost, its MODEL stage is reported on its own and not subtracted),
lift (LOCATE and PLACE), look up the transform in a ``TransformBuffer``, fill a
``RefPoint.Response`` and draw + convert the annotated image. Input is a synthetic RGB-D frame
(``roborefer_ros.sim.analytic_scene``) as real sensor_msgs messages; no rclpy.init, no graph.

Figures are per-call wall times in ms (p50, p95, mean over ``--n`` calls after a warm-up). With
``--json`` the last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rclpy.serialization import serialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from roborefer_ros.backends.ground_truth import GroundTruthBackend
from roborefer_ros.core.annotate import annotate_outcome
from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.config import ReferConfig
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.frame_sync import FrameSync
from roborefer_ros.core.referring import ReferringQuery, ReferringSet
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.result import ReferOutcome
from roborefer_ros.core.status import Status
from roborefer_ros.core.tf_buffer import StampedTransform, TransformBuffer
from roborefer_ros.core.transforms import Transform
from roborefer_ros.pipeline import Referrer
from roborefer_ros.ros.conversions import (
    depth_to_image,
    frame_from_serialized,
    rgb_to_image,
    time_msg,
)
from roborefer_ros.ros.refer.messages import fill_result
from roborefer_ros.sim.analytic_scene import T_LINK_FROM_OPTICAL, SyntheticScene
from roborefer_ros.srv import RefPoint
from roborefer_ros.tools.cli import positive_int
from roborefer_ros.tools.machine_info import machine

T_S = 100.0  # scene time of the benchmark frame
STAMP_NS = int(T_S * 1e9)
TF_RATE_HZ = 100.0  # the dynamic base -> camera_link edge, like a robot state publisher
TF_HISTORY_S = 10.0  # a full default cache of samples, half before and half after the frame
WARMUP = 10

# Stage names, in the order of one call. "sync" and "convert" are part of "wait_frame" (the node
# selects and converts inside its frame provider); "wait_frame" + "model" + "lift" + "tf" make up
# "refer"; "refer" +
# "fill_result" + "annotate" make up "total". "tf_lookup" is measured in a loop of its own.
STAGES = (
    "sync",
    "convert",
    "wait_frame",
    "model",
    "lift",
    "tf",
    "refer",
    "fill_result",
    "annotate",
    "total",
    "tf_lookup",
)
MODES = {"locate": Mode.LOCATE, "place": Mode.PLACE}
PROMPTS = {Mode.LOCATE: "the top of the red box", Mode.PLACE: "the free space left of the red box"}
TABLE_SPOT = np.array([0.35, 0.20, 0.0])  # free table, clear of every box


@dataclass(frozen=True)
class Stats:
    p50_ms: float
    p95_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        ms = np.asarray(seconds, dtype=np.float64) * 1e3
        return cls(
            p50_ms=float(np.percentile(ms, 50)),
            p95_ms=float(np.percentile(ms, 95)),
            mean_ms=float(ms.mean()),
        )

    def as_dict(self) -> dict[str, float]:
        return {"p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "mean_ms": self.mean_ms}


@dataclass(frozen=True)
class Rig:
    """Everything one size needs: the synced messages, a referrer and its transform buffer."""

    width: int
    height: int
    color: bytes  # serialized, as the middleware hands them over
    depth: bytes
    info: bytes
    sync: FrameSync[bytes, bytes, bytes]
    referrer: Referrer
    buffer: TransformBuffer
    optical_frame: str
    target_frame: str


def parse_size(text: str) -> tuple[int, int]:
    try:
        width_s, height_s = text.lower().split("x")
        width, height = int(width_s), int(height_s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small (at least 16x16)")
    return width, height


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [parse_size(part) for part in text.split(",") if part.strip()]


def camera_info(camera: CameraModel, header: Header) -> CameraInfo:
    msg = CameraInfo(header=header, width=camera.width, height=camera.height)
    msg.distortion_model = camera.distortion_model
    msg.d = list(camera.d)
    msg.k = camera.k.reshape(-1).tolist()
    msg.p = camera.p.reshape(-1).tolist()
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    return msg


def make_rig(width: int, height: int, object_extent: bool = True) -> Rig:
    scene = SyntheticScene(width=width, height=height)
    rgb, depth_m = scene.render(T_S)
    header = Header(frame_id=scene.optical_frame, stamp=time_msg(STAMP_NS))
    color = serialize_message(rgb_to_image(rgb, header))
    depth = serialize_message(depth_to_image(encode_depth(depth_m), header, "16UC1"))
    info = serialize_message(camera_info(scene.camera_model(), header))
    sync: FrameSync[bytes, bytes, bytes] = FrameSync()  # the node's defaults

    buffer = TransformBuffer(cache_time_s=TF_HISTORY_S)
    buffer.set_transform(
        StampedTransform(scene.link_frame, scene.optical_frame, 0, T_LINK_FROM_OPTICAL),
        authority="bench",
        is_static=True,
    )
    n_samples = int(TF_HISTORY_S * TF_RATE_HZ)
    for i in range(n_samples):
        t = T_S - TF_HISTORY_S / 2 + (i + 0.5) / TF_RATE_HZ  # no sample exactly at the frame
        buffer.set_transform(
            StampedTransform(
                scene.base_frame, scene.link_frame, int(t * 1e9), scene.T_base_from_link(t)
            ),
            authority="bench",
        )

    truths = ((Mode.LOCATE, scene.boxes[0].top_center), (Mode.PLACE, TABLE_SPOT))
    queries = []
    for mode, point in truths:
        xyz = (float(point[0]), float(point[1]), float(point[2]))
        pixel = scene.pixel_of(point, T_S)
        queries.append(ReferringQuery(PROMPTS[mode], STAMP_NS, pixel, xyz, mode, 0.01))
    backend = GroundTruthBackend(ReferringSet(scene.base_frame, tuple(queries)))
    config = ReferConfig(estimate_object_extent=object_extent)
    referrer = Referrer(backend, BufferLookup(buffer), config, clock_ns=lambda: STAMP_NS)
    return Rig(
        width,
        height,
        color,
        depth,
        info,
        sync,
        referrer,
        buffer,
        scene.optical_frame,
        scene.base_frame,
    )


class BufferLookup:
    """The TransformLookup of the node's own listener: a wait on the buffer's condition."""

    def __init__(self, buffer: TransformBuffer) -> None:
        self.buffer = buffer

    def lookup(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        return self.buffer.wait_for_transform(target_frame, source_frame, stamp_ns, timeout_s)


def one_call(rig: Rig, request: ReferRequest, samples: dict[str, list[float]]) -> None:
    """Serve one request as the node does and append each stage's seconds to ``samples``."""
    sync_s: list[float] = []
    convert_s: list[float] = []
    frozen: list[Frame] = []  # the node keeps the frozen frame for the annotated image

    def frames(min_stamp_ns: int, timeout_s: float) -> Frame:
        started = time.perf_counter()
        rig.sync.add_info(STAMP_NS, rig.info)  # one new frame since the last request
        rig.sync.add_depth(STAMP_NS, rig.depth)
        rig.sync.add_color(STAMP_NS, rig.color)
        synced = rig.sync.select(min_stamp_ns)
        assert synced is not None
        selected = time.perf_counter()
        frame = frame_from_serialized(synced.color, synced.depth, synced.info)
        sync_s.append(selected - started)
        convert_s.append(time.perf_counter() - selected)
        frozen.append(frame)
        return frame

    t0 = time.perf_counter()
    outcome = rig.referrer.refer(request, frames)
    t1 = time.perf_counter()
    response = fill_result(RefPoint.Response(), outcome)
    t2 = time.perf_counter()
    annotated = annotate(frozen[0], outcome)
    t3 = time.perf_counter()
    if outcome.status is not Status.OK or not response.success or annotated.width != rig.width:
        raise RuntimeError(
            f"{rig.width}x{rig.height} {request.mode.name}: {outcome.status.name}: "
            f"{outcome.message}"
        )
    timings = outcome.timings
    for name, seconds in (
        ("sync", sync_s[0]),
        ("convert", convert_s[0]),
        ("wait_frame", timings.wait_frame_s),
        ("model", timings.model_s),
        ("lift", timings.lift_s),
        ("tf", timings.tf_s),
        ("refer", t1 - t0),
        ("fill_result", t2 - t1),
        ("annotate", t3 - t2),
        ("total", t3 - t0),
    ):
        samples[name].append(seconds)


def annotate(frame: Frame, outcome: ReferOutcome) -> Image:
    """What the node publishes on ~/annotated_image for a successful call."""
    header = Header(frame_id=frame.frame_id, stamp=time_msg(frame.stamp_ns))
    return rgb_to_image(annotate_outcome(frame.rgb, outcome), header)


def time_loop(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def bench_size(
    width: int, height: int, n: int, object_extent: bool = True
) -> dict[str, dict[str, dict[str, float]]]:
    """{mode: {stage: stats}} for one image size."""
    rig = make_rig(width, height, object_extent)
    results: dict[str, dict[str, dict[str, float]]] = {}
    lookup_s = time_loop(
        lambda: rig.buffer.wait_for_transform(rig.target_frame, rig.optical_frame, STAMP_NS, 0.5),
        n,
    )
    for mode_name, mode in MODES.items():
        request = ReferRequest(PROMPTS[mode], mode=mode)
        warm: dict[str, list[float]] = {name: [] for name in STAGES}
        for _ in range(WARMUP):
            one_call(rig, request, warm)
        samples: dict[str, list[float]] = {name: [] for name in STAGES}
        for _ in range(n):
            one_call(rig, request, samples)
        samples["tf_lookup"] = lookup_s
        results[mode_name] = {name: Stats.of(samples[name]).as_dict() for name in STAGES}
    return results


def format_table(size: str, results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One row per stage, p50 / p95 / mean in ms for each mode."""
    modes = list(results)
    head = f"{size:<12}" + "".join(f"| {m + ' p50':>10} {'p95':>8} {'mean':>8} " for m in modes)
    lines = [head.rstrip(), "-" * len(head.rstrip())]
    for stage in STAGES:
        row = f"{stage:<12}"
        for m in modes:
            s = results[m][stage]
            row += f"| {s['p50_ms']:10.3f} {s['p95_ms']:8.3f} {s['mean_ms']:8.3f} "
        lines.append(row.rstrip())
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roborefer-bench-node",
        description="Node overhead per RefPoint call (everything but the model), per stage.",
    )
    parser.add_argument("--n", type=positive_int, default=300, help="timed calls per size and mode")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=parse_sizes("1280x720,640x480"),
        help="comma-separated WIDTHxHEIGHT list (default 1280x720,640x480)",
    )
    parser.add_argument(
        "--no-object-extent",
        action="store_true",
        help="LOCATE without estimate_object_extent (the node's default is on)",
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")  # exits with status 2
    started = time.perf_counter()
    report: dict[str, Any] = {"n": args.n, "machine": machine(), "sizes": {}}
    report["estimate_object_extent"] = not args.no_object_extent
    info = report["machine"]
    print(f"roborefer-bench-node: n={args.n}, {info['cpu']}, {info['cores']} cores")
    for width, height in args.sizes:
        size = f"{width}x{height}"
        results = bench_size(width, height, args.n, not args.no_object_extent)
        report["sizes"][size] = results
        print(f"\n{format_table(size, results)}", flush=True)
    report["wall_s"] = time.perf_counter() - started
    print(f"\ntimes in ms per call; wall time {report['wall_s']:.1f} s")
    if args.json:
        print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
