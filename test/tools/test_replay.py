"""roborefer-replay on a live graph: every message arrives with its stamp, on the recorded schedule
(scaled by --rate), /tf_static latched, /clock at bag time, and Ctrl-C ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage

from roborefer_ros.bags.reader import BagReader
from roborefer_ros.bags.synthetic import SyntheticSource
from roborefer_ros.bags.writer import write_source_bag
from roborefer_ros.ros.graph import GraphClient, ros_env
from roborefer_ros.sim.analytic_scene import SyntheticScene

pytestmark = pytest.mark.graph

NS = "/camera/camera"
FRAMES = 10
CAMERA = (
    (f"{NS}/color/image_raw", Image),
    (f"{NS}/aligned_depth_to_color/image_raw", Image),
    (f"{NS}/color/camera_info", CameraInfo),
)
RATE = 2.0
SOURCE = SyntheticSource(
    SyntheticScene(width=160, height=120, speed_mps=0.1), tuple(k / 10 for k in range(FRAMES))
)


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "bag"
    write_source_bag(path, SOURCE, SOURCE.referring())
    return path


@pytest.fixture
def graph() -> Iterator[GraphClient]:
    client = GraphClient(f"replay_test_{os.getpid()}")
    yield client
    client.close()


def _replay(bag: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "roborefer_ros.tools.replay", str(bag), *args],
            env=ros_env(int(os.environ["ROS_DOMAIN_ID"])),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


def _recorded(bag: Path) -> dict[str, list[tuple[int, int]]]:
    """topic -> [(log time, header stamp)] as stored."""
    from roborefer_ros.bags import messages as m

    result: dict[str, list[tuple[int, int]]] = {}
    with BagReader(bag) as reader:
        for msg in reader.messages():
            decoded = m.deserialize(msg.data, msg.msgtype, msg.topic)
            header = decoded.transforms[0].header if msg.msgtype == m.TF_MESSAGE else decoded.header
            stamp = header.stamp.sec * 10**9 + header.stamp.nanosec
            result.setdefault(msg.topic, []).append((msg.log_time_ns, stamp))
    return result


def test_every_message_arrives_with_its_stamp_on_schedule(
    bag: Path, graph: GraphClient, tmp_path: Path
) -> None:
    received: dict[str, list[tuple[float, int]]] = {}
    lock = threading.Lock()

    def record(topic: str, stamp_of: object) -> object:
        def callback(msg: object) -> None:
            stamp = stamp_of(msg)  # type: ignore[operator]
            with lock:
                received.setdefault(topic, []).append(
                    (time.monotonic(), stamp.sec * 10**9 + stamp.nanosec)
                )

        return callback

    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    node = graph.node
    for topic, cls in CAMERA:
        node.create_subscription(cls, topic, record(topic, lambda m: m.header.stamp), reliable)
    node.create_subscription(
        TFMessage, "/tf", record("/tf", lambda m: m.transforms[0].header.stamp), reliable
    )
    clocks: list[int] = []
    node.create_subscription(
        Clock, "/clock", lambda m: clocks.append(m.clock.sec * 10**9 + m.clock.nanosec), 10
    )
    proc = _replay(
        bag,
        "--rate",
        str(RATE),
        "--clock",
        "--reliable",
        "--wait-for-subscribers",
        "15",
        "--start-delay",
        "1.0",
        "--topics",
        "/tf",
        *(topic for topic, _ in CAMERA),
        log=tmp_path / "replay.log",
    )
    try:
        assert proc.wait(timeout=20) == 0, (tmp_path / "replay.log").read_text()
    finally:
        _stop(proc)
    time.sleep(0.2)
    recorded = _recorded(bag)
    with lock:
        for topic in (t for t in recorded if t != "/tf_static"):
            got = received.get(topic, [])
            assert [s for _, s in got] == [s for _, s in recorded[topic]], (
                topic,
                {t: len(v) for t, v in received.items()},
                (tmp_path / "replay.log").read_text(),
            )
    # Timing: arrival offsets follow the recorded log-time offsets divided by the rate.
    arrivals = sorted(t for got in received.values() for t, _ in got)
    logs = sorted(
        log for topic, items in recorded.items() if topic != "/tf_static" for log, _ in items
    )
    expected = (np.array(logs) - logs[0]) * 1e-9 / RATE
    actual = np.array(arrivals) - arrivals[0]
    lateness = actual - expected
    assert np.median(np.abs(lateness)) < 0.03, lateness
    assert np.abs(lateness).max() < 0.25, lateness
    assert actual[-1] == pytest.approx(expected[-1], abs=0.1)  # 0.45 s at rate 2, not 0.9 s
    # /clock: bag time, monotonic, within the bag's span.
    assert clocks, "no /clock received"
    assert clocks == sorted(clocks)
    assert logs[0] - 10**6 <= clocks[0] and clocks[-1] <= logs[-1]


def test_tf_static_is_latched_and_camera_qos_is_recorded(
    bag: Path, graph: GraphClient, tmp_path: Path
) -> None:
    proc = _replay(bag, "--loop", "--start-delay", "0.5", log=tmp_path / "replay.log")
    try:
        # Wait for the replay's publishers, then join late: only a latched sample can arrive.
        deadline = time.monotonic() + 15
        while not graph.node.get_publishers_info_by_topic("/tf_static"):
            assert time.monotonic() < deadline, "replay never advertised /tf_static"
            time.sleep(0.05)
        time.sleep(1.0)
        static: list[TFMessage] = []
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        graph.node.create_subscription(TFMessage, "/tf_static", static.append, latched)
        deadline = time.monotonic() + 10
        while not static and time.monotonic() < deadline:
            time.sleep(0.05)
        assert static, "the late subscriber did not get /tf_static"
        (transform,) = static[0].transforms
        assert transform.child_frame_id == SOURCE.scene.optical_frame
        (info,) = graph.node.get_publishers_info_by_topic(f"{NS}/color/image_raw")
        assert info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        assert info.qos_profile.durability == DurabilityPolicy.VOLATILE
        (info,) = graph.node.get_publishers_info_by_topic("/tf_static")
        assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean exit, even mid-loop
        try:
            code = proc.wait(timeout=10)
        finally:
            _stop(proc)
    assert code == 0, (tmp_path / "replay.log").read_text()
    assert "pass 1" in (tmp_path / "replay.log").read_text()  # it looped at least once


def test_bad_bag_exits_2(tmp_path: Path) -> None:
    proc = _replay(tmp_path, log=tmp_path / "replay.log")
    try:
        assert proc.wait(timeout=30) == 2
    finally:
        _stop(proc)
    assert "no metadata.yaml" in (tmp_path / "replay.log").read_text()
