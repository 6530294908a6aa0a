"""TransformBuffer fed with set_transform (the tf2_ros test pattern), checked against matrices."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import numpy.typing as npt
import pytest

from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import (
    BadTransformError,
    ConnectivityError,
    ExtrapolationError,
    FrameNotFoundError,
    StampedTransform,
    TransformBuffer,
    TransformError,
    TransformLoopError,
    checked_transform,
)
from roborefer_ros.core.transforms import Transform

Mat = npt.NDArray[np.float64]
S = 1_000_000_000  # ns per second


def rot_x(a: float) -> Mat:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def rot_y(a: float) -> Mat:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def rot_z(a: float) -> Mat:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def hom(R: Mat, t: tuple[float, float, float]) -> Mat:
    m = np.eye(4)
    m[:3, :3] = R
    m[:3, 3] = t
    return m


def put(
    buf: TransformBuffer,
    parent: str,
    child: str,
    m: Mat,
    stamp_ns: int = 0,
    is_static: bool = False,
) -> None:
    buf.set_transform(
        StampedTransform(parent, child, stamp_ns, Transform.from_matrix(m)), "test", is_static
    )


# Hand-built arm: base_link -> shoulder (dynamic yaw) -> camera_link -> camera_optical (static).
M_BASE_SHOULDER_1S = hom(rot_z(0.0), (0.0, 0.0, 0.5))
M_BASE_SHOULDER_2S = hom(rot_z(math.pi / 2), (0.2, 0.0, 0.5))
M_SHOULDER_CAMERA = hom(rot_y(math.pi / 6), (0.3, 0.0, 0.1))
M_CAMERA_OPTICAL = hom(rot_z(-math.pi / 2) @ rot_x(-math.pi / 2), (0.0, 0.0, 0.0))


@pytest.fixture
def arm() -> TransformBuffer:
    buf = TransformBuffer()
    put(buf, "base_link", "shoulder", M_BASE_SHOULDER_1S, 1 * S)
    put(buf, "base_link", "shoulder", M_BASE_SHOULDER_2S, 2 * S)
    put(buf, "shoulder", "camera_link", M_SHOULDER_CAMERA, is_static=True)
    put(buf, "camera_link", "camera_optical", M_CAMERA_OPTICAL, is_static=True)
    return buf


def test_chain_matches_hand_composed_matrices(arm: TransformBuffer) -> None:
    T = arm.lookup_transform("base_link", "camera_optical", 2 * S)
    expected = M_BASE_SHOULDER_2S @ M_SHOULDER_CAMERA @ M_CAMERA_OPTICAL
    np.testing.assert_allclose(T.as_matrix(), expected, atol=1e-12)
    p_optical = np.array([0.1, -0.2, 1.5])  # 1.5 m in front of the lens
    np.testing.assert_allclose(T.apply(p_optical), (expected @ [*p_optical, 1.0])[:3], atol=1e-12)


def test_optical_frame_convention_maps_depth_axis_to_camera_x(arm: TransformBuffer) -> None:
    T = arm.lookup_transform("camera_link", "camera_optical", 0)
    np.testing.assert_allclose(T.apply((0.0, 0.0, 1.0)), (1.0, 0.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(T.apply((1.0, 0.0, 0.0)), (0.0, -1.0, 0.0), atol=1e-12)


def test_reverse_lookup_is_inverse(arm: TransformBuffer) -> None:
    T = arm.lookup_transform("camera_optical", "base_link", 1 * S)
    expected = M_BASE_SHOULDER_1S @ M_SHOULDER_CAMERA @ M_CAMERA_OPTICAL
    np.testing.assert_allclose(T.as_matrix(), np.linalg.inv(expected), atol=1e-12)


def test_lookup_across_branches_goes_through_common_ancestor(arm: TransformBuffer) -> None:
    m_base_wheel = hom(rot_x(0.3), (-0.4, 0.2, 0.0))
    put(arm, "base_link", "wheel", m_base_wheel, is_static=True)
    T = arm.lookup_transform("wheel", "camera_link", 1 * S)
    expected = np.linalg.inv(m_base_wheel) @ M_BASE_SHOULDER_1S @ M_SHOULDER_CAMERA
    np.testing.assert_allclose(T.as_matrix(), expected, atol=1e-12)


def test_same_frame_is_identity(arm: TransformBuffer) -> None:
    T = arm.lookup_transform("camera_link", "camera_link", 123)
    np.testing.assert_allclose(T.as_matrix(), np.eye(4))


def test_dynamic_edge_interpolates_at_midpoint(arm: TransformBuffer) -> None:
    T = arm.lookup_transform("base_link", "shoulder", 1_500_000_000)
    np.testing.assert_allclose(T.translation, (0.1, 0.0, 0.5), atol=1e-12)
    np.testing.assert_allclose(T.rotation_matrix(), rot_z(math.pi / 4), atol=1e-12)


def test_static_edges_hold_at_any_time_beside_dynamic_ones(arm: TransformBuffer) -> None:
    early = arm.lookup_transform("shoulder", "camera_optical", 1)
    late = arm.lookup_transform("shoulder", "camera_optical", 10_000 * S)
    np.testing.assert_allclose(early.as_matrix(), M_SHOULDER_CAMERA @ M_CAMERA_OPTICAL, atol=1e-12)
    assert early == late
    with pytest.raises(ExtrapolationError):  # the dynamic edge on the chain still limits time
        arm.lookup_transform("base_link", "camera_optical", 10_000 * S)


def test_stamp_zero_uses_latest_common_time() -> None:
    buf = TransformBuffer()
    put(buf, "odom", "base_link", hom(np.eye(3), (0.0, 0.0, 0.0)), 1 * S)
    put(buf, "odom", "base_link", hom(np.eye(3), (4.0, 0.0, 0.0)), 5 * S)
    put(buf, "base_link", "head", hom(np.eye(3), (0.0, 0.0, 1.0)), 2 * S)
    put(buf, "base_link", "head", hom(np.eye(3), (0.0, 0.0, 2.0)), 3 * S)
    put(buf, "map", "odom", hom(np.eye(3), (0.0, 0.0, 0.0)), is_static=True)
    # Newest data: odom->base_link at 5 s, base_link->head at 3 s -> common time is 3 s.
    T = buf.lookup_transform("map", "head", 0)
    np.testing.assert_allclose(T.translation, (2.0, 0.0, 2.0), atol=1e-12)
    # A chain without the slower edge uses its own newest sample.
    np.testing.assert_allclose(buf.lookup_transform("map", "base_link", 0).translation, (4, 0, 0))


def test_stamp_zero_on_static_chain() -> None:
    buf = TransformBuffer()
    put(buf, "a", "b", hom(np.eye(3), (1.0, 2.0, 3.0)), 7 * S, is_static=True)
    assert buf.lookup_transform("a", "b", 0).translation == (1.0, 2.0, 3.0)


def test_unknown_frame_error_names_frame(arm: TransformBuffer) -> None:
    with pytest.raises(FrameNotFoundError) as info:
        arm.lookup_transform("base_link", "gripper", 1 * S)
    err = info.value
    assert isinstance(err, TransformError)
    assert isinstance(err, RefPointError)
    assert err.status is Status.TF_ERROR
    assert "'gripper' does not exist" in err.message
    assert "camera_optical" in err.message  # the known frames are listed


def test_disjoint_trees_raise_connectivity_error(arm: TransformBuffer) -> None:
    put(arm, "map", "marker", hom(np.eye(3), (0.0, 0.0, 0.0)), is_static=True)
    with pytest.raises(
        ConnectivityError, match="'marker' and 'camera_link' are not connected"
    ) as e:
        arm.lookup_transform("marker", "camera_link", 1 * S)
    assert "'map'" in e.value.message and "'base_link'" in e.value.message
    assert e.value.status is Status.TF_ERROR


def test_extrapolation_into_future_names_edge_and_times() -> None:
    buf = TransformBuffer()
    put(buf, "camera_link", "camera_optical", np.eye(4), 12_000_000_000)
    put(buf, "camera_link", "camera_optical", np.eye(4), 12_300_000_000)
    with pytest.raises(ExtrapolationError) as info:
        buf.lookup_transform("camera_link", "camera_optical", 12_500_000_000)
    assert info.value.message.startswith(
        "extrapolation into the future: requested 12.500 s, "
        "latest data for camera_link->camera_optical at 12.300 s"
    )
    assert "'test'" in info.value.message  # the publishing authority
    assert info.value.status is Status.TF_ERROR


def test_extrapolation_into_past_names_interval(arm: TransformBuffer) -> None:
    with pytest.raises(ExtrapolationError) as info:
        arm.lookup_transform("base_link", "camera_optical", 500_000_000)
    msg = info.value.message
    assert "extrapolation into the past: requested 0.500 s" in msg
    assert "base_link->shoulder at 1.000 s" in msg
    assert "1.000 s to 2.000 s" in msg


def test_single_sample_is_not_used_at_another_time() -> None:
    buf = TransformBuffer()
    put(buf, "a", "b", hom(np.eye(3), (1.0, 0.0, 0.0)), 5 * S)
    assert buf.lookup_transform("a", "b", 5 * S).translation == (1.0, 0.0, 0.0)
    assert buf.lookup_transform("a", "b", 0).translation == (1.0, 0.0, 0.0)
    with pytest.raises(ExtrapolationError, match="future"):
        buf.lookup_transform("a", "b", 5 * S + 1)
    with pytest.raises(ExtrapolationError, match="past"):
        buf.lookup_transform("a", "b", 5 * S - 1)


def test_old_samples_are_pruned_to_cache_time() -> None:
    buf = TransformBuffer(cache_time_s=2.0)
    for sec in range(10):
        put(buf, "a", "b", hom(np.eye(3), (float(sec), 0.0, 0.0)), sec * S)
    assert buf.lookup_transform("a", "b", 7 * S).translation == (7.0, 0.0, 0.0)
    with pytest.raises(ExtrapolationError, match=r"earliest data for a->b at 7\.000 s"):
        buf.lookup_transform("a", "b", 6 * S)


def test_out_of_order_samples_are_sorted() -> None:
    buf = TransformBuffer()
    put(buf, "a", "b", hom(np.eye(3), (3.0, 0.0, 0.0)), 3 * S)
    put(buf, "a", "b", hom(np.eye(3), (1.0, 0.0, 0.0)), 1 * S)
    np.testing.assert_allclose(buf.lookup_transform("a", "b", 2 * S).translation, (2.0, 0, 0))


def test_reparenting_latest_wins() -> None:
    buf = TransformBuffer()
    put(buf, "world", "cup", hom(np.eye(3), (1.0, 0.0, 0.0)), is_static=True)
    put(buf, "hand", "cup", hom(np.eye(3), (0.0, 0.0, 0.1)), is_static=True)
    put(buf, "world", "hand", hom(np.eye(3), (0.0, 2.0, 0.0)), is_static=True)
    np.testing.assert_allclose(buf.lookup_transform("world", "cup", 0).translation, (0, 2, 0.1))


def test_loop_is_detected_not_followed() -> None:
    buf = TransformBuffer()
    put(buf, "a", "b", np.eye(4), is_static=True)
    put(buf, "b", "a", np.eye(4), is_static=True)
    put(buf, "a", "c", np.eye(4), is_static=True)
    with pytest.raises(TransformLoopError, match="loop: c -> a -> b -> a"):
        buf.lookup_transform("b", "c", 0)


@pytest.mark.parametrize(("parent", "child"), [("", "a"), ("a", "a"), ("/a", "a")])
def test_set_transform_rejects_bad_frame_names(parent: str, child: str) -> None:
    with pytest.raises(BadTransformError, match="empty" if not parent else "own parent"):
        put(TransformBuffer(), parent, child, np.eye(4))


def test_a_leading_slash_is_stripped_on_insert_as_tf2_does() -> None:
    """``/world -> /a`` is stored as ``world -> a`` (it used to raise, and on /tf that killed
    the listener)."""
    buf = TransformBuffer()
    put(buf, "/world", "/a", hom(np.eye(3), (1.0, 0.0, 0.0)), is_static=True)
    assert buf.all_frames() == {"world", "a"}
    np.testing.assert_allclose(buf.lookup_transform("world", "a", 0).translation, (1, 0, 0))


def _checked(
    parent: str = "world",
    child: str = "a",
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0),
    quat: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
) -> StampedTransform:
    return checked_transform(parent, child, 5, translation, quat)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"quat": (0.0, 0.0, 0.0, 0.0)}, "is not unit"),
        ({"quat": (0.0, 0.0, 0.5, 0.0)}, r"squared norm 0\.25"),  # was a silent 180 deg yaw
        ({"quat": (0.0, 0.0, 0.0, 1.005)}, r"squared norm 1\.01"),  # 1.010025: off by >= 0.01
        ({"quat": (0.0, math.nan, 0.0, 1.0)}, "quaternion .* is not finite"),
        ({"translation": (math.nan, 0.0, 0.0)}, "translation .* is not finite"),
        ({"translation": (0.0, math.inf, 0.0)}, "translation .* is not finite"),
        ({"child": ""}, "empty child_frame_id"),
        ({"child": "/"}, "empty child_frame_id"),
        ({"parent": ""}, "empty frame_id"),
        ({"parent": "a"}, "'a' cannot be its own parent"),
        ({"parent": "/a"}, "'a' cannot be its own parent"),
    ],
)
def test_checked_transform_refuses_what_tf2_refuses_naming_why(
    fields: dict[str, object], reason: str
) -> None:
    with pytest.raises(BadTransformError, match=reason) as info:
        _checked(**fields)  # type: ignore[arg-type]
    assert "->" in str(info.value)  # names the transform


def test_checked_transform_strips_slashes_and_normalises_near_unit_quaternions() -> None:
    st = _checked("/world", "/a", (1.0, 2.0, 3.0), (0.0, 0.0, 0.0, 1.004))  # |q.q - 1| ~ 0.008
    assert (st.parent_frame, st.child_frame, st.stamp_ns) == ("world", "a", 5)
    assert st.transform.quat_xyzw == (0.0, 0.0, 0.0, 1.0)
    assert st.transform.translation == (1.0, 2.0, 3.0)


def test_cache_time_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cache_time_s must be > 0, got 0"):
        TransformBuffer(cache_time_s=0)


def test_all_frames_and_clear_keeps_static(arm: TransformBuffer) -> None:
    assert arm.all_frames() == {"base_link", "shoulder", "camera_link", "camera_optical"}
    arm.clear()
    assert arm.all_frames() == {"shoulder", "camera_link", "camera_optical"}
    assert arm.can_transform("shoulder", "camera_optical", 0)
    assert not arm.can_transform("base_link", "camera_optical", 0)
    arm.clear(keep_static=False)
    assert arm.all_frames() == set()


def test_wait_for_transform_is_woken_by_another_thread(arm: TransformBuffer) -> None:
    def publish_later() -> None:
        time.sleep(0.1)
        put(arm, "base_link", "shoulder", M_BASE_SHOULDER_2S, 3 * S)

    thread = threading.Thread(target=publish_later)
    start = time.monotonic()
    thread.start()
    T = arm.wait_for_transform("base_link", "camera_link", 3 * S, timeout_s=5.0)
    elapsed = time.monotonic() - start
    thread.join()
    np.testing.assert_allclose(T.as_matrix(), M_BASE_SHOULDER_2S @ M_SHOULDER_CAMERA, atol=1e-12)
    assert 0.05 <= elapsed < 2.0


def test_wait_for_transform_times_out_with_last_error(arm: TransformBuffer) -> None:
    start = time.monotonic()
    with pytest.raises(ExtrapolationError) as info:
        arm.wait_for_transform("base_link", "camera_link", 3 * S, timeout_s=0.2)
    elapsed = time.monotonic() - start
    assert 0.2 <= elapsed < 1.5
    assert "extrapolation into the future: requested 3.000 s" in info.value.message
    assert info.value.message.endswith("after waiting 0.200 s")


def test_wait_for_transform_unrelated_updates_do_not_end_wait_early(arm: TransformBuffer) -> None:
    stop = threading.Event()

    def chatter() -> None:  # wakes the waiter repeatedly with data that does not help it
        while not stop.is_set():
            put(arm, "base_link", "lidar", np.eye(4), is_static=True)
            time.sleep(0.01)

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        with pytest.raises(FrameNotFoundError, match=r"after waiting 0\.150 s"):
            arm.wait_for_transform("base_link", "gripper", 0, timeout_s=0.15)
    finally:
        stop.set()
        thread.join()


def test_can_transform_waits_for_data(arm: TransformBuffer) -> None:
    assert not arm.can_transform("base_link", "camera_link", 3 * S)
    timer = threading.Timer(
        0.05, put, args=(arm, "base_link", "shoulder", M_BASE_SHOULDER_2S, 3 * S)
    )
    timer.start()
    assert arm.can_transform("base_link", "camera_link", 3 * S, timeout_s=5.0)
    timer.join()


def test_concurrent_writers_and_readers_smoke() -> None:
    buf = TransformBuffer(cache_time_s=1.0)
    put(buf, "odom", "base_link", np.eye(4), 0)
    put(buf, "base_link", "camera", hom(np.eye(3), (0.0, 0.0, 1.0)), is_static=True)
    errors: list[BaseException] = []
    n = 2000

    def writer() -> None:
        for i in range(1, n + 1):
            put(buf, "odom", "base_link", hom(rot_z(i * 1e-3), (i * 1e-3, 0.0, 0.0)), i * 1_000_000)

    def reader() -> None:
        try:
            for _ in range(n):
                T = buf.lookup_transform("odom", "camera", 0)
                assert math.isclose(T.translation[2], 1.0)
                assert 0.0 <= T.translation[0] <= n * 1e-3 + 1e-9
        except BaseException as err:  # collected and re-raised in the main thread
            errors.append(err)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    np.testing.assert_allclose(buf.lookup_transform("odom", "camera", 0).translation, (2, 0, 1))
