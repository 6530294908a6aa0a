"""Open a rosbag2 bag (MCAP or sqlite3), list its topics and QoS, find its RGB-D camera topics.

Camera topics are found under any namespace by their endings, as a RealSense driver names them
(``.../color/image_raw``, ``.../color/camera_info``, ``.../aligned_depth_to_color/image_raw``, or
the older ``.../aligned_depth/image_raw``), or given explicitly. Every error names what is
missing and what the bag has.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from rosbags.interfaces import ConnectionExtRosbag2, QosDurability, QosReliability
from rosbags.rosbag2 import Reader, ReaderError

from roborefer_ros.bags import messages as m
from roborefer_ros.bags.errors import BagError
from roborefer_ros.bags.writer import REFERRING_FILE
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.tf_buffer import TransformBuffer

COLOR_ENDINGS = ("color/image_raw",)
DEPTH_ENDINGS = ("aligned_depth_to_color/image_raw", "aligned_depth/image_raw")
INFO_ENDINGS = ("color/camera_info",)
_DEFAULT_DEPTH = 10  # history depth when a bag recorded none (rosbag2 stores 0 for "unknown")


def _check_metadata(path: Path) -> None:
    """BagError, one line naming the file, unless it is YAML with a rosbag2_bagfile_information
    mapping (what rosbags then reads; its own errors for a malformed file are Python's)."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "cannot be parsed"
        raise BagError(f"{path}: not valid YAML{line}: {problem}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BagError(f"{path}: cannot be read: {err}") from None
    info = data.get("rosbag2_bagfile_information") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise BagError(
            f"{path} is not rosbag2 metadata (expected a 'rosbag2_bagfile_information' mapping)"
        )


@dataclass(frozen=True)
class TopicQos:
    """The QoS a player should offer: reliable unless any recorded offer was best effort,
    transient local only if every offer was (rosbag2's own adaptation rule)."""

    reliable: bool
    transient_local: bool
    depth: int


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int
    qos: TopicQos


@dataclass(frozen=True)
class CameraTopics:
    color: str
    depth: str
    info: str


@dataclass(frozen=True)
class BagMessage:
    """One stored message: its CDR bytes as recorded, and the time it was logged."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes


class BagReader:
    """A rosbag2 bag directory opened for reading; use as a context manager."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not (self.path / "metadata.yaml").is_file():
            raise BagError(f"{self.path} is not a rosbag2 bag directory (no metadata.yaml)")
        _check_metadata(self.path / "metadata.yaml")
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except (ReaderError, KeyError, TypeError, ValueError) as err:
            # rosbags words a malformed entry as Python does ("string indices must be integers")
            why = " ".join(str(err).split())
            raise BagError(f"cannot open bag {self.path}: invalid metadata.yaml: {why}") from None
        self.topics: dict[str, BagTopic] = {}
        for conn in self._reader.connections:
            offers = (
                conn.ext.offered_qos_profiles if isinstance(conn.ext, ConnectionExtRosbag2) else []
            )
            previous = self.topics.get(conn.topic)
            count = conn.msgcount + (previous.count if previous else 0)
            self.topics[conn.topic] = BagTopic(
                conn.topic, conn.msgtype, count, _qos(conn.topic, offers)
            )

    @property
    def start_ns(self) -> int:
        return int(self._reader.start_time)

    @property
    def end_ns(self) -> int:
        return int(self._reader.end_time)

    @property
    def message_count(self) -> int:
        return int(self._reader.message_count)

    def referring_path(self) -> Path:
        """Where the bag's ground truth lives (``referring.json`` inside the bag directory)."""
        return self.path / REFERRING_FILE

    def messages(self, topics: Collection[str] = ()) -> Iterator[BagMessage]:
        """Messages in log-time order, of ``topics`` (all when empty); BagError on unknown ones."""
        unknown = sorted(set(topics) - self.topics.keys())
        if unknown:
            raise BagError(f"{self.path}: no topic {unknown[0]} (topics: {self._listing()})")
        wanted = [c for c in self._reader.connections if not topics or c.topic in topics]
        try:
            for conn, log_time, data in self._reader.messages(connections=wanted):
                yield BagMessage(conn.topic, conn.msgtype, int(log_time), bytes(data))
        except ReaderError as err:
            raise BagError(f"{self.path}: cannot read messages: {err}") from err

    def camera_topics(
        self, color: str | None = None, depth: str | None = None, info: str | None = None
    ) -> CameraTopics:
        """The bag's colour, aligned depth and camera_info topics (module docstring)."""
        found = CameraTopics(
            color=self._find("colour image", color, COLOR_ENDINGS, m.IMAGE),
            depth=self._find("aligned depth image", depth, DEPTH_ENDINGS, m.IMAGE),
            info=self._find("camera_info", info, INFO_ENDINGS, m.CAMERA_INFO),
        )
        return found

    def close(self) -> None:
        if self._reader.is_open:
            self._reader.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _find(self, what: str, explicit: str | None, endings: tuple[str, ...], msgtype: str) -> str:
        if explicit:
            name = "/" + explicit.lstrip("/")
            if name not in self.topics:
                raise BagError(
                    f"{self.path}: {what} topic {name} is not in the bag ({self._listing()})"
                )
            candidates = [name]
        else:
            candidates = [t for t in self.topics if any(_ends_with(t, e) for e in endings)]
            if not candidates:
                raise BagError(
                    f"{self.path}: no {what} topic (a name ending in "
                    f"{' or '.join(endings)}; topics: {self._listing()}); name it explicitly"
                )
            if len(candidates) > 1:
                raise BagError(
                    f"{self.path}: several {what} topics ({', '.join(sorted(candidates))}); "
                    "name one explicitly"
                )
        topic = self.topics[candidates[0]]
        if topic.msgtype != msgtype:
            raise BagError(
                f"{self.path}: {what} topic {topic.name} is {topic.msgtype}, not {msgtype}"
            )
        return topic.name

    def _listing(self) -> str:
        return ", ".join(sorted(self.topics)) or "none"


def _ends_with(topic: str, ending: str) -> bool:
    return topic == "/" + ending or topic.endswith("/" + ending)


def _qos(topic: str, offers: list[Any]) -> TopicQos:
    if not offers:  # no metadata: latch /tf_static as every tf2 listener expects
        latched = topic == "/tf_static"
        return TopicQos(
            reliable=True, transient_local=latched, depth=1 if latched else _DEFAULT_DEPTH
        )
    reliable = all(o.reliability != QosReliability.BEST_EFFORT for o in offers)
    latched = all(o.durability == QosDurability.TRANSIENT_LOCAL for o in offers)
    depth = max(int(o.depth) for o in offers)
    return TopicQos(reliable, latched, depth if depth > 0 else _DEFAULT_DEPTH)


def read_frames(
    bag: BagReader,
    topics: CameraTopics,
    stamps: Iterable[int] | None = None,
    slop_ns: int = 20_000_000,
) -> dict[int, Frame]:
    """Aligned frames by colour stamp (all, or only ``stamps``): each colour image with the
    depth image nearest in stamp (within ``slop_ns``, as the node's sync pairs them) and the
    newest camera_info stamped at or before it (else the first). Depth stays in its encoding."""
    wanted = None if stamps is None else sorted(set(stamps))
    colors: dict[int, Any] = {}
    depths: list[tuple[int, Any]] = []
    infos: list[tuple[int, Any]] = []

    def near_wanted(stamp: int, slop: int) -> bool:
        if wanted is None:
            return True
        i = bisect.bisect_left(wanted, stamp - slop)
        return i < len(wanted) and wanted[i] <= stamp + slop

    for msg in bag.messages([topics.color, topics.depth, topics.info]):
        decoded = m.deserialize(msg.data, msg.msgtype, msg.topic)
        stamp = m.header_stamp_ns(decoded)
        if msg.topic == topics.info:
            infos.append((stamp, decoded))
        elif msg.topic == topics.color and near_wanted(stamp, 0):
            colors[stamp] = decoded
        elif msg.topic == topics.depth and near_wanted(stamp, slop_ns):
            depths.append((stamp, decoded))
    infos.sort(key=lambda pair: pair[0])
    depths.sort(key=lambda pair: pair[0])
    frames: dict[int, Frame] = {}
    for stamp, color in sorted(colors.items()):
        depth = min(depths, key=lambda pair: abs(pair[0] - stamp), default=None)
        first_info = infos[0][1] if infos else None  # intrinsics rarely change: be lenient
        info = next((i for s, i in reversed(infos) if s <= stamp), first_info)
        if depth is None or abs(depth[0] - stamp) > slop_ns or info is None:
            continue
        frames[stamp] = Frame(
            stamp_ns=stamp,
            frame_id=str(color.header.frame_id),
            rgb=m.image_pixels(color),
            depth=m.image_pixels(depth[1]),
            depth_encoding=str(depth[1].encoding),
            camera=m.camera_model(info),
            depth_frame_id=str(depth[1].header.frame_id),
        )
    return frames


def read_transforms(bag: BagReader) -> TransformBuffer:
    """Every /tf and /tf_static transform of the bag in one buffer (cache spans the whole bag)."""
    span_s = max((bag.end_ns - bag.start_ns) * 1e-9, 0.0) + 10.0
    buffer = TransformBuffer(cache_time_s=span_s)
    topics = [t for t in ("/tf", "/tf_static") if t in bag.topics]
    for msg in bag.messages(topics) if topics else ():
        decoded = m.deserialize(msg.data, msg.msgtype, msg.topic)
        for st in m.stamped_transforms(decoded):
            if msg.topic == "/tf_static":
                buffer.set_transform(st, authority="bag /tf_static", is_static=True)
            else:
                buffer.set_transform(st, authority="bag /tf")
    return buffer
