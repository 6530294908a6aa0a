"""The refer node's frame path on a live graph: camera messages stay in the middleware until a
request takes them (no Python per frame), and what the ring gave before still holds — the latest
frame, the earliest at or after ``min_stamp`` (waiting for it), colour and depth paired within
slop, camera_info paired by stamp (a stray older one is never applied to a newer frame), and a
jump back in time restarting the ring."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from roborefer_ros.core.frame_sync import FrameSync
from roborefer_ros.ros.conversions import depth_to_image, rgb_to_image, time_msg
from roborefer_ros.ros.graph import GraphClient
from roborefer_ros.ros.refer.frame_source import (
    Arrival,
    CameraTopics,
    MiddlewareFrameSource,
    history_depth,
    in_order_of_arrival,
    with_depth,
)

pytestmark = pytest.mark.graph

S = 1_000_000_000
MS = 1_000_000
T0 = 1_700_000_000 * S
TOPICS = CameraTopics("/fs/color/image_raw", "/fs/depth/image_raw", "/fs/color/camera_info")
RING = 8
QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class Camera:
    """A camera driver on the test's graph, publishing small frames with chosen stamps."""

    graph: GraphClient

    def __post_init__(self) -> None:
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        node = self.graph.node
        self.color = node.create_publisher(Image, TOPICS.color, qos)
        self.depth = node.create_publisher(Image, TOPICS.depth, qos)
        self.info = node.create_publisher(CameraInfo, TOPICS.info, qos)

    def wait_matched(self) -> None:
        deadline = time.monotonic() + 10.0
        for pub in (self.color, self.depth, self.info):
            while pub.get_subscription_count() < 1:
                assert time.monotonic() < deadline, "the frame source never subscribed"
                time.sleep(0.02)
        time.sleep(0.3)  # the reader's side of the match

    def send_info(self, stamp_ns: int, fx: float = 500.0) -> None:
        info = CameraInfo(width=8, height=6, distortion_model="plumb_bob")
        info.header = Header(frame_id="cam", stamp=time_msg(stamp_ns))
        info.k = [fx, 0.0, 4.0, 0.0, fx, 3.0, 0.0, 0.0, 1.0]
        self.info.publish(info)

    def send(self, stamp_ns: int, depth_offset_ns: int = 0, info: bool = True) -> None:
        """camera_info, depth, colour of one frame (the order realsense-ros sends them in)."""
        if info:
            self.send_info(stamp_ns)
        rgb = np.full((6, 8, 3), (stamp_ns // MS) % 251, np.uint8)
        depth = np.full((6, 8), 700, np.uint16)
        depth_header = Header(frame_id="cam", stamp=time_msg(stamp_ns + depth_offset_ns))
        self.depth.publish(depth_to_image(depth, depth_header, "16UC1"))
        self.color.publish(rgb_to_image(rgb, Header(frame_id="cam", stamp=time_msg(stamp_ns))))


@pytest.fixture
def rig(graph: GraphClient) -> Iterator[tuple[MiddlewareFrameSource, Camera]]:
    context = Context()
    rclpy.init(context=context)
    source = MiddlewareFrameSource(
        "frame_source_test",
        TOPICS,
        with_depth(QOS, history_depth(QOS.depth, RING)),
        FrameSync(slop_s=0.02, ring_size=RING, queue_size=10),
        context=context,
    )
    camera = Camera(graph)
    camera.wait_matched()
    yield source, camera
    source.close()
    rclpy.shutdown(context=context)


def _stamp(synced: object) -> int | None:
    return None if synced is None else synced.stamp_ns  # type: ignore[attr-defined]


def _settle() -> None:
    time.sleep(0.3)  # the published messages reach the middleware's reader history


def test_nothing_is_taken_until_a_request_needs_a_frame(
    rig: tuple[MiddlewareFrameSource, Camera],
) -> None:
    source, camera = rig
    for k in range(5):
        camera.send(T0 + k * 100 * MS)
    _settle()
    assert source.messages_taken == 0  # no Python ran per frame
    assert source.sync.stats().color_received == 0
    synced = source.wait_select(0, 1.0)
    assert _stamp(synced) == T0 + 400 * MS  # the latest
    assert source.messages_taken == 15  # colour, depth and camera_info of the five frames
    assert synced is not None
    image = deserialize_message(synced.color, Image)
    assert (image.width, image.height) == (8, 6)


def test_min_stamp_picks_the_earliest_at_or_after_it_and_waits_for_a_later_one(
    rig: tuple[MiddlewareFrameSource, Camera],
) -> None:
    source, camera = rig
    for k in range(4):
        camera.send(T0 + k * 100 * MS)
    _settle()
    assert _stamp(source.wait_select(T0 + 150 * MS, 1.0)) == T0 + 200 * MS
    assert _stamp(source.wait_select(T0 + 200 * MS, 1.0)) == T0 + 200 * MS
    # a frame that does not exist yet: the request waits for it (no polling) ...
    later = threading.Timer(0.3, camera.send, args=(T0 + 900 * MS,))
    started = time.monotonic()
    later.start()
    synced = source.wait_select(T0 + 800 * MS, 5.0)
    waited = time.monotonic() - started
    later.join()
    assert _stamp(synced) == T0 + 900 * MS
    assert 0.25 <= waited < 2.0
    # ... and gives up after its timeout
    started = time.monotonic()
    assert source.wait_select(T0 + 5 * S, 0.3) is None
    assert 0.3 <= time.monotonic() - started < 1.5


def test_colour_and_depth_pair_within_slop_only(
    rig: tuple[MiddlewareFrameSource, Camera],
) -> None:
    source, camera = rig
    camera.send(T0, depth_offset_ns=5 * MS)  # within the 20 ms slop
    camera.send(T0 + 100 * MS, depth_offset_ns=50 * MS)  # not
    _settle()
    assert _stamp(source.wait_select(0, 1.0)) == T0
    assert source.wait_select(T0 + 1, 0.2) is None
    stats = source.stats()
    assert stats.pairs_emitted == 1 and stats.color_received == 2


def test_a_stray_older_camera_info_is_never_applied_to_a_newer_frame(
    rig: tuple[MiddlewareFrameSource, Camera],
) -> None:
    source, camera = rig
    for k in range(4):
        stamp = T0 + k * 100 * MS
        camera.send_info(stamp)  # the frame's own camera_info ...
        camera.send_info(stamp - 500 * MS, fx=1.0)  # ... then a stray older one ...
        camera.send(stamp, info=False)  # ... then its images
    _settle()
    for k in range(4):
        synced = source.wait_select(T0 + k * 100 * MS, 1.0)
        assert synced is not None and synced.stamp_ns == T0 + k * 100 * MS
        info = deserialize_message(synced.info, CameraInfo)
        assert info.k[0] == 500.0, f"frame {k} got the stray camera_info"
        assert info.header.stamp == time_msg(T0 + k * 100 * MS)


def test_a_frame_without_its_camera_info_is_not_served(
    rig: tuple[MiddlewareFrameSource, Camera],
) -> None:
    source, camera = rig
    camera.send(T0)
    camera.send(T0 + 100 * MS, info=False)
    camera.send_info(T0 + 40 * MS, fx=1.0)  # the nearest, but beyond slop
    _settle()
    assert _stamp(source.wait_select(0, 0.5)) == T0
    assert source.wait_select(T0 + 1, 0.2) is None
    assert source.stats().without_info == 1
    camera.send_info(T0 + 100 * MS)  # it comes late: now the frame is served
    assert _stamp(source.wait_select(T0 + 1, 1.0)) == T0 + 100 * MS


def test_a_jump_back_in_time_restarts_the_ring(
    rig: tuple[MiddlewareFrameSource, Camera],
) -> None:
    source, camera = rig
    for k in range(3):
        camera.send(T0 + 100 * S + k * 100 * MS)
    _settle()
    assert _stamp(source.wait_select(0, 1.0)) == T0 + 100 * S + 200 * MS
    for k in range(2):  # a bag starting again
        camera.send(T0 + k * 100 * MS)
    _settle()
    assert _stamp(source.wait_select(0, 1.0)) == T0 + 100 * MS
    assert source.wait_select(T0 + 50 * S, 0.2) is None  # nothing of the old timeline
    assert source.stats().restarts == 1


def test_a_request_made_before_the_jump_still_gets_its_frame(
    rig: tuple[MiddlewareFrameSource, Camera],
) -> None:
    """The last frame of a loop and the restart arrive while the request waits."""
    source, camera = rig
    camera.send(T0 + 100 * S)
    _settle()
    assert _stamp(source.wait_select(0, 1.0)) == T0 + 100 * S

    def loop_end_then_restart() -> None:
        camera.send(T0 + 101 * S)
        camera.send(T0)

    timer = threading.Timer(0.2, loop_end_then_restart)
    timer.start()
    synced = source.wait_select(T0 + 101 * S, 3.0)
    timer.join()
    assert _stamp(synced) == T0 + 101 * S


def _feed(sync: FrameSync[str, str, str], arrivals: list[Arrival]) -> None:
    feed = {"color": sync.add_color, "depth": sync.add_depth, "info": sync.add_info}
    for a in arrivals:
        feed[a.kind](int(a.data.split(":")[1]) * MS, a.data)  # type: ignore[arg-type]


def test_a_repaired_message_keeps_its_topics_order_and_its_frame() -> None:
    """The depth image of the frame at 2.2 s was lost and repaired: the reader hands it over
    before the one at 2.3 s, but received it later. Sorting by reception time fed the 2.3 s
    depth first and FrameSync dropped the 2.2 s colour as unpairable (a CI run lost a frame so)."""
    colors = [Arrival(t, "color", f"c:{ms}") for t, ms in ((10, 2200), (20, 2300))]
    depths = [Arrival(t, "depth", f"d:{ms}") for t, ms in ((40, 2200), (15, 2300))]  # repaired
    infos = [Arrival(t, "info", f"i:{ms}") for t, ms in ((5, 2200), (16, 2300))]
    merged = in_order_of_arrival([colors, depths, infos])
    assert [a.data for a in merged] == ["i:2200", "c:2200", "i:2300", "c:2300", "d:2200", "d:2300"]

    sync: FrameSync[str, str, str] = FrameSync(slop_s=0.02, ring_size=RING)
    _feed(sync, merged)
    frame = sync.select(2200 * MS)
    assert frame is not None and (frame.color, frame.depth) == ("c:2200", "d:2200")

    # the counterfactual: merged by reception time alone, frame 2200 is lost
    by_time = sorted(colors + depths + infos, key=lambda a: a.received_ns)
    lossy: FrameSync[str, str, str] = FrameSync(slop_s=0.02, ring_size=RING)
    _feed(lossy, by_time)
    assert _stamp(lossy.select(2200 * MS)) == 2300 * MS
