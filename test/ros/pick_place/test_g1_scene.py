"""The g1 backend's scene: the newest depth frame and camera_info off the topics, in the plan
frame at the frame's stamp; each way of having none says why and gives None."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from rclpy.context import Context
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.obstacles import height_map_from_depth
from roborefer_ros.ros.conversions import depth_to_image
from roborefer_ros.ros.pick_place.g1_scene import DepthScene
from roborefer_ros.ros.spin_thread import SpinThread
from test.manipulation.depth_scene import top_down_view

TABLE_Z = -0.10
BOX = ((0.28, 0.08, TABLE_Z), (0.34, 0.14, TABLE_Z + 0.08))
VIEW = top_down_view([BOX], TABLE_Z)
NOW_NS = 1_000_000_000_000


@dataclass
class Transforms:
    """A TransformLookup that knows one camera pose (the TF listeners are tested on their own)."""

    known: dict[tuple[str, str], Transform]
    asked: list[tuple[str, str, int]] = field(default_factory=list)

    def lookup(self, target: str, source: str, stamp_ns: int, timeout_s: float) -> Transform:
        self.asked.append((target, source, stamp_ns))
        if (target, source) not in self.known:
            raise RefPointError(Status.TF_ERROR, f"{target} <- {source}: no such transform")
        return self.known[(target, source)]


class Logger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, text: str) -> None:
        self.lines.append(text)


@dataclass
class Rig:
    scene: DepthScene
    publish: Any
    logger: Logger
    transforms: Transforms


@pytest.fixture
def rig() -> Iterator[Rig]:
    context = Context()
    rclpy.init(context=context)
    listener = SpinThread("g1_scene_listener", context=context)
    talker = Node("camera", context=context)
    depth_pub = talker.create_publisher(
        type(depth_to_image(VIEW.depth_m, Header(), "32FC1")), "depth", 10
    )
    info_pub = talker.create_publisher(CameraInfo, "info", 10)
    transforms = Transforms({("torso_link", "cam"): VIEW.T_plan_from_optical})
    logger = Logger()
    scene = DepthScene(
        listener.node, "depth", "info", "torso_link", transforms, 2.0, logger, lambda: NOW_NS
    )

    def publish(stamp_ns: int, encoding: str = "16UC1", frame: str = "cam") -> None:
        stamp = Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
        header = Header(frame_id=frame, stamp=stamp)
        depth = VIEW.depth_m if encoding == "32FC1" else np.round(VIEW.depth_m * 1000.0)
        image = depth_to_image(depth, header, encoding) if encoding != "rgb8" else None
        if image is None:  # a colour image where depth was expected
            image = depth_to_image(depth, header, "16UC1")
            image.encoding = "rgb8"
        cam = VIEW.camera
        info = CameraInfo(header=header, width=cam.width, height=cam.height)
        info.k = [float(v) for v in cam.k.ravel()]
        info.p = [float(v) for v in cam.p.ravel()]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.distortion_model = "plumb_bob"
        info.d = [0.0] * 5
        info_pub.publish(info)
        depth_pub.publish(image)

    try:
        yield Rig(scene, publish, logger, transforms)
    finally:
        talker.destroy_node()
        listener.close()
        rclpy.try_shutdown(context=context)


def _wait_view(rig: Rig, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = rig.scene.view()
        if view is not None:
            return view
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_the_newest_frame_becomes_the_same_height_map(rig: Rig, encoding: str) -> None:
    assert rig.scene.view() is None
    assert rig.logger.lines == [
        "plans run unchecked against the scene: no depth frame or camera_info received yet"
    ]
    rig.publish(NOW_NS - 500_000_000, encoding)
    view = _wait_view(rig)
    assert view is not None
    assert rig.transforms.asked[-1] == ("torso_link", "cam", NOW_NS - 500_000_000)
    expected = height_map_from_depth(VIEW)
    seen = height_map_from_depth(view)
    assert seen.support_z == pytest.approx(expected.support_z, abs=0.002)
    assert np.array_equal(seen.top > -np.inf, expected.top > -np.inf)


@pytest.mark.parametrize(
    ("stamp_ns", "encoding", "frame", "why"),
    [
        (NOW_NS - 5_000_000_000, "16UC1", "cam", "the newest depth frame is 5.0 s old"),
        (NOW_NS, "rgb8", "cam", "depth encoding 'rgb8' is not supported"),
        (NOW_NS, "16UC1", "elsewhere", "torso_link <- elsewhere: no such transform"),
    ],
)
def test_a_frame_that_cannot_be_used_is_skipped_and_said_once(
    rig: Rig, stamp_ns: int, encoding: str, frame: str, why: str
) -> None:
    rig.publish(stamp_ns, encoding, frame)
    deadline = time.monotonic() + 10.0
    while not any(why in line for line in rig.logger.lines):
        assert rig.scene.view() is None
        assert time.monotonic() < deadline, rig.logger.lines
        time.sleep(0.05)
    said = len(rig.logger.lines)
    assert rig.scene.view() is None
    assert len(rig.logger.lines) == said  # once per cause
