"""Write a RealSense-like rosbag2 (MCAP) bag of RGB-D frames plus its ``referring.json``.

Layout (``ns`` = ``namespace``, default ``/camera/camera`` as realsense2_camera):
``<ns>/color/image_raw`` (rgb8), ``<ns>/aligned_depth_to_color/image_raw`` (16UC1 mm or 32FC1 m),
``<ns>/color/camera_info`` with sensor-data QoS (best effort, volatile, depth 5); ``/tf`` (reliable,
depth 100) with the moving transforms of each frame; ``/tf_static`` (reliable, transient local,
depth 1) with every fixed transform in one message, first in the bag. QoS profiles are stored in
the metadata, so ``ros2 bag play`` offers what the driver offered. Chunks are zstd-compressed.

Log times follow the header stamp by a few microseconds per topic (a recorder logs receive
times): /tf first, then camera_info, depth and colour, so any player publishes the transform of a
frame before its images.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer, WriterError

from roborefer_ros.bags import messages as m
from roborefer_ros.bags.errors import BagError
from roborefer_ros.bags.source import FrameSource, SceneFrame
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.referring import ReferringSet, dump_referring
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.sim.noise import PixelNoise

REFERRING_FILE = "referring.json"
DEFAULT_NAMESPACE = "/camera/camera"
_LOG_STEP_NS = 1_000  # log time offsets that fix the order within one frame (module docstring)
_UNSET = QosTime(0, 0)  # RMW_DURATION_UNSPECIFIED: the middleware's default


def qos_profile(reliable: bool, transient_local: bool, depth: int) -> Qos:
    """A rosbag2 offered-QoS record (only history, depth, reliability, durability are set)."""
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=_UNSET,
        lifespan=_UNSET,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=_UNSET,
        avoid_ros_namespace_conventions=False,
    )


SENSOR_QOS = qos_profile(reliable=False, transient_local=False, depth=5)
TF_QOS = qos_profile(reliable=True, transient_local=False, depth=100)
TF_STATIC_QOS = qos_profile(reliable=True, transient_local=True, depth=1)


@dataclass(frozen=True)
class CameraTopicNames:
    color: str
    depth: str
    info: str

    @classmethod
    def under(cls, namespace: str) -> CameraTopicNames:
        ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
        return cls(
            f"{ns}/color/image_raw",
            f"{ns}/aligned_depth_to_color/image_raw",
            f"{ns}/color/camera_info",
        )


@dataclass(frozen=True)
class BagSummary:
    """What was written: the bag directory, message count per topic, size on disk."""

    path: Path
    topics: CameraTopicNames
    message_counts: dict[str, int]
    frames: int
    start_ns: int
    end_ns: int
    size_bytes: int


def write_bag(
    path: str | os.PathLike[str],
    frames: Iterable[SceneFrame],
    referring: ReferringSet,
    *,
    static_transforms: Sequence[StampedTransform] = (),
    namespace: str = DEFAULT_NAMESPACE,
    depth_noise: PixelNoise | None = None,
    depth_encoding: str = "16UC1",
) -> BagSummary:
    """Write ``frames`` (stamp order) as a new bag directory ``path`` and its referring.json.

    ``depth_noise`` perturbs the depth before encoding (the truth in ``referring`` stays exact).
    Raises BagError when ``path`` exists, a frame is malformed or stamps do not increase.
    """
    if depth_encoding not in ("16UC1", "32FC1"):
        raise BagError(f"depth_encoding must be 16UC1 or 32FC1, got {depth_encoding!r}")
    bag = Path(path)
    names = CameraTopicNames.under(namespace)
    try:
        writer = Writer(bag, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        writer.open()
    except WriterError as err:
        raise BagError(f"cannot create bag {bag}: {err}") from err
    try:
        counts, count, first, last = _write_frames(
            writer, names, frames, static_transforms, depth_noise, depth_encoding
        )
    except BaseException:
        writer.abort()
        shutil.rmtree(bag, ignore_errors=True)  # we created it; leave no half-written bag
        raise
    writer.close()
    dump_referring(referring, bag / REFERRING_FILE)
    size = sum(f.stat().st_size for f in bag.iterdir() if f.is_file())
    return BagSummary(bag, names, counts, count, first, last, size)


def write_source_bag(
    path: str | os.PathLike[str],
    source: FrameSource,
    referring: ReferringSet,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    depth_noise: PixelNoise | None = None,
    depth_encoding: str = "16UC1",
) -> BagSummary:
    """``write_bag`` over a FrameSource (its frames and static transforms)."""
    return write_bag(
        path,
        source.frames(),
        referring,
        static_transforms=source.static_transforms(),
        namespace=namespace,
        depth_noise=depth_noise,
        depth_encoding=depth_encoding,
    )


def _write_frames(
    writer: Writer,
    names: CameraTopicNames,
    frames: Iterable[SceneFrame],
    static_transforms: Sequence[StampedTransform],
    depth_noise: PixelNoise | None,
    depth_encoding: str,
) -> tuple[dict[str, int], int, int, int]:
    store = m.TYPESTORE

    def connect(topic: str, msgtype: str, qos: Qos) -> Connection:
        return writer.add_connection(topic, msgtype, typestore=store, offered_qos_profiles=[qos])

    tf_static = connect("/tf_static", m.TF_MESSAGE, TF_STATIC_QOS) if static_transforms else None
    tf = connect("/tf", m.TF_MESSAGE, TF_QOS)
    info = connect(names.info, m.CAMERA_INFO, SENSOR_QOS)
    depth = connect(names.depth, m.IMAGE, SENSOR_QOS)
    color = connect(names.color, m.IMAGE, SENSOR_QOS)
    counts = dict.fromkeys(
        [*(["/tf_static"] if tf_static else []), "/tf", names.info, names.depth, names.color], 0
    )
    first = last = 0
    index = 0
    for index, frame in enumerate(frames, start=1):
        frame.validate()
        stamp = frame.stamp_ns
        if stamp <= last:
            raise BagError(f"frame {index - 1}: stamp {stamp} ns does not follow {last} ns")
        if index == 1:
            first = stamp
            if tf_static is not None:
                writer.write(tf_static, stamp, m.tf_cdr(static_transforms))
                counts["/tf_static"] += 1
        last = stamp
        optical = frame.camera.frame_id
        depth_m = frame.depth_m if depth_noise is None else depth_noise.apply(frame.depth_m, index)
        raw = encode_depth(depth_m, depth_encoding)
        if frame.transforms:
            writer.write(tf, stamp + _LOG_STEP_NS, m.tf_cdr(frame.transforms))
            counts["/tf"] += 1
        writer.write(
            info, stamp + 2 * _LOG_STEP_NS, m.camera_info_cdr(frame.camera, stamp, optical)
        )
        writer.write(
            depth, stamp + 3 * _LOG_STEP_NS, m.image_cdr(raw, depth_encoding, stamp, optical)
        )
        writer.write(
            color, stamp + 4 * _LOG_STEP_NS, m.image_cdr(frame.rgb, "rgb8", stamp, optical)
        )
        for topic in (names.info, names.depth, names.color):
            counts[topic] += 1
    if index == 0:
        raise BagError("no frames to write")
    return counts, index, first, last
