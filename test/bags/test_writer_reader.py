"""Bag round trip with rosbags: topics, counts, QoS metadata, stamps, order, decoded content;
camera topic discovery by name endings; errors that name what is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from roborefer_ros.bags import messages as m
from roborefer_ros.bags.errors import BagError
from roborefer_ros.bags.reader import BagReader, read_frames, read_transforms
from roborefer_ros.bags.source import SceneFrame
from roborefer_ros.bags.synthetic import SyntheticSource
from roborefer_ros.bags.writer import SENSOR_QOS, write_bag, write_source_bag
from roborefer_ros.core.referring import load_referring
from roborefer_ros.sim.analytic_scene import SyntheticScene
from roborefer_ros.sim.noise import PixelNoise

NS = "/robot/cam"
COLOR, DEPTH, INFO = (
    f"{NS}/color/image_raw",
    f"{NS}/aligned_depth_to_color/image_raw",
    f"{NS}/color/camera_info",
)
SCENE = SyntheticScene(width=160, height=120, speed_mps=0.1, sweep_m=0.15)
SOURCE = SyntheticSource(SCENE, tuple(k / 10 for k in range(5)))


@pytest.fixture(scope="module")
def bag_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bags") / "scene"
    write_source_bag(path, SOURCE, SOURCE.referring(), namespace=NS)
    return path


def test_topics_counts_and_qos_metadata(bag_path: Path) -> None:
    with Reader(bag_path) as reader:  # plain rosbags: what any rosbag2 tool sees
        conns = {c.topic: c for c in reader.connections}
        assert set(conns) == {"/tf_static", "/tf", COLOR, DEPTH, INFO}
        assert {t: c.msgcount for t, c in conns.items()} == {
            "/tf_static": 1,
            "/tf": 5,
            COLOR: 5,
            DEPTH: 5,
            INFO: 5,
        }
        assert conns["/tf"].msgtype == "tf2_msgs/msg/TFMessage"
        assert conns[INFO].msgtype == "sensor_msgs/msg/CameraInfo"
        (static_qos,) = conns["/tf_static"].ext.offered_qos_profiles
        assert static_qos.durability == QosDurability.TRANSIENT_LOCAL
        assert static_qos.reliability == QosReliability.RELIABLE
        assert static_qos.depth == 1
        for topic in (COLOR, DEPTH, INFO):
            (qos,) = conns[topic].ext.offered_qos_profiles
            assert qos.reliability == QosReliability.BEST_EFFORT
            assert qos.durability == QosDurability.VOLATILE
        (tf_qos,) = conns["/tf"].ext.offered_qos_profiles
        assert (tf_qos.reliability, tf_qos.durability) == (
            QosReliability.RELIABLE,
            QosDurability.VOLATILE,
        )
    (mcap,) = bag_path.glob("*.mcap")
    data = mcap.read_bytes()
    assert data.startswith(b"\x89MCAP0\r\n")
    assert b"zstd" in data  # compressed chunks
    metadata = (bag_path / "metadata.yaml").read_text()
    assert "storage_identifier: mcap" in metadata
    assert "type_description_hash" in metadata


def test_reader_reports_player_qos(bag_path: Path) -> None:
    with BagReader(bag_path) as bag:
        assert bag.topics["/tf_static"].qos.transient_local
        assert bag.topics["/tf_static"].qos.depth == 1
        assert not bag.topics[COLOR].qos.reliable
        assert bag.topics["/tf"].qos.reliable and not bag.topics["/tf"].qos.transient_local
        assert bag.message_count == 21


def test_static_first_then_tf_before_each_frame_at_its_stamp(bag_path: Path) -> None:
    stamps = [SOURCE.stamp_ns(t) for t in SOURCE.times_s]
    with BagReader(bag_path) as bag:
        sequence = []
        for msg in bag.messages():
            decoded = m.deserialize(msg.data, msg.msgtype, msg.topic)
            stamp = (
                decoded.transforms[0].header.stamp
                if msg.msgtype == m.TF_MESSAGE
                else decoded.header.stamp
            )
            stamp_ns = stamp.sec * 10**9 + stamp.nanosec
            assert msg.log_time_ns >= stamp_ns
            sequence.append((msg.topic, stamp_ns))
    assert sequence[0] == ("/tf_static", stamps[0])
    expected = [("/tf_static", stamps[0])]
    for stamp in stamps:
        expected += [("/tf", stamp), (INFO, stamp), (DEPTH, stamp), (COLOR, stamp)]
    assert sequence == expected


def test_cdr_decodes_to_the_rendered_images_infos_and_transforms(bag_path: Path) -> None:
    with BagReader(bag_path) as bag:
        frames = read_frames(bag, bag.camera_topics())
        tf = read_transforms(bag)
    rendered = {f.stamp_ns: f for f in SOURCE.frames()}
    assert sorted(frames) == sorted(rendered)
    for stamp, frame in frames.items():
        truth = rendered[stamp]
        np.testing.assert_array_equal(frame.rgb, truth.rgb)
        assert frame.depth_encoding == "16UC1" and frame.depth.dtype == np.uint16
        valid = np.isfinite(truth.depth_m)
        assert np.all(frame.depth[~valid] == 0)
        assert np.abs(frame.depth[valid] / 1000.0 - truth.depth_m[valid]).max() <= 0.0005
        assert frame.frame_id == frame.depth_frame_id == SCENE.optical_frame
        np.testing.assert_allclose(frame.camera.p, truth.camera.p)
        np.testing.assert_allclose(frame.camera.k, truth.camera.k)
        assert (frame.camera.width, frame.camera.height) == (160, 120)
        t_s = SOURCE.times_s[list(rendered).index(stamp)]
        expected = SCENE.T_base_from_optical(t_s).as_matrix()
        got = tf.lookup_transform(SCENE.base_frame, SCENE.optical_frame, stamp).as_matrix()
        np.testing.assert_allclose(got, expected, atol=1e-9)


def test_rclpy_reads_the_same_bytes(bag_path: Path) -> None:
    """The stored CDR is what a ROS 2 subscriber deserialises (a real player sends it as is)."""
    serialization = pytest.importorskip("rclpy.serialization")
    from sensor_msgs.msg import CameraInfo, Image
    from tf2_msgs.msg import TFMessage

    classes = {m.IMAGE: Image, m.CAMERA_INFO: CameraInfo, m.TF_MESSAGE: TFMessage}
    with BagReader(bag_path) as bag:
        for msg in bag.messages():
            ros = serialization.deserialize_message(msg.data, classes[msg.msgtype])
            ours = m.deserialize(msg.data, msg.msgtype, msg.topic)
            if msg.msgtype == m.IMAGE:
                assert (ros.encoding, ros.width, ros.height, ros.step) == (
                    ours.encoding,
                    ours.width,
                    ours.height,
                    ours.step,
                )
                assert bytes(ros.data) == ours.data.tobytes()
            elif msg.msgtype == m.TF_MESSAGE:
                assert ros.transforms[0].child_frame_id == ours.transforms[0].child_frame_id
                assert ros.transforms[0].transform.rotation.w == pytest.approx(
                    ours.transforms[0].transform.rotation.w
                )
            else:
                assert list(ros.p) == pytest.approx(list(ours.p))


def test_referring_json_is_written_beside_the_data(bag_path: Path) -> None:
    with BagReader(bag_path) as bag:
        loaded = load_referring(bag.referring_path())
    assert loaded == SOURCE.referring()
    assert len(loaded.queries) == 5 * 4
    assert json.loads((bag_path / "referring.json").read_text())["target_frame"] == "base_link"


def test_camera_topics_found_by_ending_under_any_namespace(bag_path: Path) -> None:
    with BagReader(bag_path) as bag:
        topics = bag.camera_topics()
    assert (topics.color, topics.depth, topics.info) == (COLOR, DEPTH, INFO)


def _bare_bag(path: Path, topics: dict[str, str]) -> Path:
    """A bag with one topic per entry (name -> type) and no messages."""
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for name, msgtype in topics.items():
            writer.add_connection(
                name, msgtype, typestore=m.TYPESTORE, offered_qos_profiles=[SENSOR_QOS]
            )
    return path


REALSENSE = {
    "/camera/camera/color/image_raw": m.IMAGE,
    "/camera/camera/color/camera_info": m.CAMERA_INFO,
    "/camera/camera/aligned_depth_to_color/image_raw": m.IMAGE,
    "/camera/camera/depth/image_rect_raw": m.IMAGE,
}


def test_realsense_aligned_depth_to_color_name_is_found(tmp_path: Path) -> None:
    with BagReader(_bare_bag(tmp_path / "rs", REALSENSE)) as bag:
        topics = bag.camera_topics()
    assert topics.depth == "/camera/camera/aligned_depth_to_color/image_raw"
    assert topics.color == "/camera/camera/color/image_raw"


def test_depth_is_paired_by_nearest_stamp_within_slop(tmp_path: Path) -> None:
    """A real driver stamps aligned depth a few ms off the colour image."""
    frame = next(SOURCE.frames())
    cam, stamp = frame.camera, frame.stamp_ns
    depth_mm = np.full((120, 160), 800, dtype=np.uint16)
    with Writer(tmp_path / "rs", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conns = {
            name: writer.add_connection(name, msgtype, typestore=m.TYPESTORE)
            for name, msgtype in REALSENSE.items()
        }
        writer.write(
            conns["/camera/camera/color/camera_info"], stamp, m.camera_info_cdr(cam, stamp, "o")
        )
        for k, offset_ns in enumerate((4_000_000, 30_000_000)):  # 4 ms: paired; 30 ms: not
            t = stamp + k * 10**9
            color = m.image_cdr(frame.rgb, "rgb8", t, "o")
            depth = m.image_cdr(depth_mm + k, "16UC1", t + offset_ns, "o")
            writer.write(conns["/camera/camera/aligned_depth_to_color/image_raw"], t, depth)
            writer.write(conns["/camera/camera/color/image_raw"], t, color)
    with BagReader(tmp_path / "rs") as bag:
        frames = read_frames(bag, bag.camera_topics())
    assert list(frames) == [stamp]
    assert frames[stamp].depth[0, 0] == 800


def test_missing_depth_topic_error_names_what_is_missing(tmp_path: Path) -> None:
    no_depth = {k: v for k, v in REALSENSE.items() if "aligned" not in k}
    with BagReader(_bare_bag(tmp_path / "rs", no_depth)) as bag, pytest.raises(BagError) as err:
        bag.camera_topics()
    message = str(err.value)
    assert "no aligned depth image topic" in message
    assert "aligned_depth_to_color/image_raw" in message
    assert "/camera/camera/depth/image_rect_raw" in message  # what the bag has


def test_explicit_topics_win_and_are_checked(tmp_path: Path) -> None:
    with BagReader(_bare_bag(tmp_path / "rs", REALSENSE)) as bag:
        topics = bag.camera_topics(depth="/camera/camera/depth/image_rect_raw")
        assert topics.depth == "/camera/camera/depth/image_rect_raw"
        with pytest.raises(BagError, match="colour image topic /nope is not in the bag"):
            bag.camera_topics(color="/nope")
        with pytest.raises(BagError, match=r"camera_info topic .* is sensor_msgs/msg/Image"):
            bag.camera_topics(info="/camera/camera/color/image_raw")


def test_two_cameras_are_ambiguous(tmp_path: Path) -> None:
    both = {**REALSENSE, "/wrist/color/image_raw": m.IMAGE}
    with (
        BagReader(_bare_bag(tmp_path / "two", both)) as bag,
        pytest.raises(BagError, match="several colour image topics"),
    ):
        bag.camera_topics()


def test_not_a_bag_and_existing_path_are_refused(tmp_path: Path, bag_path: Path) -> None:
    with pytest.raises(BagError, match=r"no metadata\.yaml"):
        BagReader(tmp_path)
    with pytest.raises(BagError, match="cannot create bag"):
        write_source_bag(bag_path, SOURCE, SOURCE.referring())


def test_stamps_must_increase_and_nothing_is_left_behind(tmp_path: Path) -> None:
    frames = list(SOURCE.frames())
    with pytest.raises(BagError, match="does not follow"):
        write_bag(tmp_path / "bad", [frames[1], frames[0]], SOURCE.referring())
    assert not (tmp_path / "bad").exists()


def test_malformed_frame_is_refused(tmp_path: Path) -> None:
    frame = next(SOURCE.frames())
    bad = SceneFrame(frame.stamp_ns, frame.rgb[:, :10], frame.depth_m, frame.camera)
    with pytest.raises(BagError, match="not aligned"):
        write_bag(tmp_path / "bad", [bad], SOURCE.referring())


def test_depth_noise_is_seeded_and_changes_only_depth(tmp_path: Path) -> None:
    noise = PixelNoise(seed=3)
    a = write_source_bag(tmp_path / "a", SOURCE, SOURCE.referring(), depth_noise=noise)
    b = write_source_bag(tmp_path / "b", SOURCE, SOURCE.referring(), depth_noise=noise)
    with BagReader(a.path) as bag_a, BagReader(b.path) as bag_b:
        fa = read_frames(bag_a, bag_a.camera_topics())
        fb = read_frames(bag_b, bag_b.camera_topics())
    for stamp, truth in ((f.stamp_ns, f) for f in SOURCE.frames()):
        np.testing.assert_array_equal(fa[stamp].depth, fb[stamp].depth)
        np.testing.assert_array_equal(fa[stamp].rgb, truth.rgb)
        dropped = np.mean((fa[stamp].depth == 0) & np.isfinite(truth.depth_m))
        assert 0.01 < dropped < 0.04  # ~2 % dropouts
        kept = (fa[stamp].depth > 0) & np.isfinite(truth.depth_m)
        error_mm = np.abs(fa[stamp].depth[kept] / 1.0 - truth.depth_m[kept] * 1000.0)
        assert 1.0 < np.median(error_mm) < 10.0  # a few mm of noise at ~0.8 m


def test_32fc1_depth_keeps_metres_and_nan(tmp_path: Path) -> None:
    summary = write_source_bag(tmp_path / "f", SOURCE, SOURCE.referring(), depth_encoding="32FC1")
    with BagReader(summary.path) as bag:
        frames = read_frames(bag, bag.camera_topics())
    truth = next(SOURCE.frames())
    frame = frames[truth.stamp_ns]
    assert frame.depth_encoding == "32FC1" and frame.depth.dtype == np.float32
    np.testing.assert_array_equal(frame.depth, truth.depth_m)  # NaN where no return


def test_bag_layer_is_ros_free() -> None:
    code = (
        "import sys, roborefer_ros.bags.writer, roborefer_ros.bags.reader, "
        "roborefer_ros.bags.synthetic, roborefer_ros.eval.bag_baseline; "
        "ros = ('rclpy', 'sensor_msgs', 'tf2_msgs'); "
        "print([n for n in sys.modules if n.split('.')[0] in ros])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
