"""Pixel -> 3D: LOCATE along the ray, PLACE on the fitted support plane, resize mappings."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.lifting import (
    LiftedPoint,
    image_pixel_from_model_pixel,
    lift_pixel,
    model_to_image_pixel,
)
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status

FloatArray = npt.NDArray[np.float64]
W, H = 160, 120


def make_camera(
    fx: float = 150.0, fy: float = 145.0, cx: float = 83.0, cy: float = 57.5, tx: float = -7.5
) -> CameraModel:
    """A small camera with an off-centre principal point and a non-zero P[0, 3]."""
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    p = np.array([[fx, 0.0, cx, tx], [0.0, fy, cy, 0.0], [0.0, 0.0, 1.0, 0.0]])
    return CameraModel(W, H, k, p)


def plane_depth(camera: CameraModel, normal: FloatArray, offset: float) -> FloatArray:
    """HxW float64 z-depth of the plane {X : normal @ X = offset}, rendered pixel by pixel."""
    u, v = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    directions = np.stack(
        [(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones(u.shape)], axis=-1
    )
    with np.errstate(divide="ignore"):
        return np.asarray(offset / (directions @ normal), dtype=np.float64)


def tilted_table(camera: CameraModel) -> tuple[FloatArray, FloatArray, float]:
    """(depth, unit normal towards the camera, offset) of a plane tilted ~35 deg to the image."""
    normal = np.array([0.0, -math.sin(math.radians(35.0)), -math.cos(math.radians(35.0))])
    offset = -1.2  # normal @ X = -1.2: the camera sits on the normal's side
    return plane_depth(camera, normal, offset), normal, offset


def encode(depth_m: FloatArray, encoding: str) -> npt.NDArray[np.generic]:
    if encoding == "16UC1":
        return np.where(np.isfinite(depth_m), np.round(depth_m * 1000.0), 0).astype(np.uint16)
    return depth_m.astype(np.float32)


def angle_deg(a: FloatArray, b: FloatArray) -> float:
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return math.degrees(math.acos(min(1.0, max(-1.0, cos))))


# --- LOCATE ---------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
@pytest.mark.parametrize("point", [(0.0, 0.0, 1.0), (-0.31, 0.17, 1.4), (0.2, -0.2, 0.6)])
def test_locate_returns_the_known_point(encoding: str, point: tuple[float, float, float]) -> None:
    camera = make_camera()
    truth = np.array(point)
    u, v = camera.project(truth)  # off-centre, sub-pixel
    depth = np.full((H, W), truth[2])  # fronto-parallel wall through the point
    lifted = lift_pixel(camera, encode(depth, encoding), encoding, u, v, Mode.LOCATE)
    assert isinstance(lifted, LiftedPoint)
    assert np.linalg.norm(lifted.point_camera - truth) < 1e-3
    assert lifted.pixel == (u, v)
    assert lifted.normal_camera is None
    assert lifted.plane_inlier_ratio is None
    np.testing.assert_allclose(lifted.approach_camera, truth / np.linalg.norm(truth), atol=1e-9)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_locate_on_a_tilted_plane_uses_depth_along_the_optical_axis(encoding: str) -> None:
    camera = make_camera()
    depth, normal, offset = tilted_table(camera)
    u, v = 120, 30  # integer pixel far from the principal point
    ray = camera.pixel_to_ray(u, v)
    truth = ray * offset / (normal @ ray)
    lifted = lift_pixel(camera, encode(depth, encoding), encoding, u, v, Mode.LOCATE)
    assert np.linalg.norm(lifted.point_camera - truth) < 1e-3
    assert lifted.sample.depth_m == pytest.approx(truth[2], abs=1e-3)


def test_auto_is_lifted_like_locate() -> None:
    camera = make_camera()
    raw = encode(tilted_table(camera)[0], "32FC1")
    auto = lift_pixel(camera, raw, "32FC1", 50.0, 70.0, Mode.AUTO)
    locate = lift_pixel(camera, raw, "32FC1", 50.0, 70.0, Mode.LOCATE)
    np.testing.assert_array_equal(auto.point_camera, locate.point_camera)
    assert auto.normal_camera is None


def test_locate_at_an_edge_takes_the_centre_surface() -> None:
    camera = make_camera()
    depth = np.full((H, W), 2.0)
    depth[:, :80] = 0.9  # a box face in front of a wall
    raw = encode(depth, "16UC1")
    assert lift_pixel(camera, raw, "16UC1", 79, 60, Mode.LOCATE).point_camera[2] == (
        pytest.approx(0.9)
    )
    assert lift_pixel(camera, raw, "16UC1", 80, 60, Mode.LOCATE).point_camera[2] == (
        pytest.approx(2.0)
    )


def test_locate_with_a_hole_at_the_pixel_uses_the_neighbours() -> None:
    camera = make_camera()
    depth = np.full((H, W), 1.1)
    depth[58:63, 98:103] = np.nan
    lifted = lift_pixel(camera, encode(depth, "32FC1"), "32FC1", 100, 60, Mode.LOCATE)
    assert lifted.point_camera[2] == pytest.approx(1.1)


@pytest.mark.parametrize("mode", [Mode.LOCATE, Mode.PLACE])
def test_all_holes_raise_no_valid_depth(mode: Mode) -> None:
    camera = make_camera()
    with pytest.raises(RefPointError) as err:
        lift_pixel(camera, np.zeros((H, W), dtype=np.uint16), "16UC1", 40, 30, mode)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "(u=40, v=30)" in err.value.message


@pytest.mark.parametrize("mode", [Mode.LOCATE, Mode.PLACE])
def test_out_of_image_raises_out_of_image(mode: Mode) -> None:
    camera = make_camera()
    raw = np.full((H, W), 1000, dtype=np.uint16)
    with pytest.raises(RefPointError) as err:
        lift_pixel(camera, raw, "16UC1", W + 3.0, 10.0, mode)
    assert err.value.status is Status.OUT_OF_IMAGE
    assert f"{W}x{H}" in err.value.message


def test_depth_of_another_size_is_a_bad_frame() -> None:
    camera = make_camera()
    with pytest.raises(RefPointError) as err:
        lift_pixel(camera, np.ones((H, W + 1), np.float32), "32FC1", 5, 5, Mode.LOCATE)
    assert err.value.status is Status.BAD_FRAME
    assert f"{W + 1}x{H}" in err.value.message


def test_unsupported_encoding_is_reported() -> None:
    camera = make_camera()
    with pytest.raises(RefPointError) as err:
        lift_pixel(camera, np.ones((H, W), np.uint8), "8UC1", 5, 5, Mode.LOCATE)
    assert err.value.status is Status.UNSUPPORTED_ENCODING


# --- PLACE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_place_on_a_tilted_plane_with_a_hole_at_the_pixel(encoding: str) -> None:
    camera = make_camera()
    depth, normal, offset = tilted_table(camera)
    u, v = 70.3, 64.8
    depth[60:70, 65:76] = np.nan  # a black mat under the pointed pixel
    ray = camera.pixel_to_ray(u, v)
    truth = ray * offset / (normal @ ray)
    lifted = lift_pixel(camera, encode(depth, encoding), encoding, u, v, Mode.PLACE)
    assert lifted.normal_camera is not None
    assert angle_deg(lifted.normal_camera, normal) < 1.0
    assert np.linalg.norm(lifted.point_camera - truth) < 1e-3
    np.testing.assert_array_equal(lifted.approach_camera, lifted.normal_camera)
    assert float(lifted.normal_camera @ -lifted.point_camera) > 0.0  # faces the camera
    assert lifted.plane_inlier_ratio == pytest.approx(1.0)
    assert lifted.sample.depth_m == pytest.approx(truth[2], abs=1e-3)
    assert lifted.sample.pixel == (70, 65)
    assert lifted.sample.n_valid < lifted.sample.n_window  # the hole is accounted for


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_place_with_noise_and_outliers_stays_within_5_mm(seed: int) -> None:
    camera = make_camera()
    depth, normal, offset = tilted_table(camera)
    rng = np.random.default_rng(seed)
    noisy = depth + rng.normal(0.0, 0.003, size=depth.shape)
    outliers = rng.random(depth.shape) < 0.05
    noisy[outliers] = rng.uniform(0.3, 3.0, size=int(outliers.sum()))
    u, v = 90.0, 50.0
    ray = camera.pixel_to_ray(u, v)
    truth = ray * offset / (normal @ ray)
    for encoding in ("16UC1", "32FC1"):
        lifted = lift_pixel(camera, encode(noisy, encoding), encoding, u, v, Mode.PLACE)
        assert lifted.normal_camera is not None
        assert np.linalg.norm(lifted.point_camera - truth) < 5e-3
        assert angle_deg(lifted.normal_camera, normal) < 3.0
        assert lifted.plane_inlier_ratio is not None
        assert 0.8 < lifted.plane_inlier_ratio < 1.0
        assert 0.001 < lifted.sample.spread_m < 0.005  # the noise level shows


def test_place_is_deterministic() -> None:
    camera = make_camera()
    depth, _, _ = tilted_table(camera)
    rng = np.random.default_rng(3)
    noisy = encode(depth + rng.normal(0.0, 0.003, size=depth.shape), "32FC1")
    first = lift_pixel(camera, noisy, "32FC1", 60.0, 60.0, Mode.PLACE)
    second = lift_pixel(camera, noisy, "32FC1", 60.0, 60.0, Mode.PLACE)
    np.testing.assert_array_equal(first.point_camera, second.point_camera)


@pytest.mark.parametrize("u, surface_offset", [(93.0, -1.0), (97.0, -1.0), (103.0, -0.9)])
def test_place_next_to_a_box_uses_the_surface_under_the_pixel(
    u: float, surface_offset: float
) -> None:
    camera = make_camera()
    table_normal = np.array([0.0, -math.sin(math.radians(50.0)), -math.cos(math.radians(50.0))])
    depth = plane_depth(camera, table_normal, -1.0)
    box_top = plane_depth(camera, table_normal, -0.9)  # 10 cm higher, parallel to the table
    depth[:, 100:] = box_top[:, 100:]  # the box fills the right of the image
    v = 60.0  # a few pixels from the box's edge: the window holds both surfaces
    ray = camera.pixel_to_ray(u, v)
    truth = ray * surface_offset / (table_normal @ ray)
    lifted = lift_pixel(camera, encode(depth, "32FC1"), "32FC1", u, v, Mode.PLACE)
    assert lifted.normal_camera is not None
    assert np.linalg.norm(lifted.point_camera - truth) < 1e-3
    assert lifted.plane_inlier_ratio is not None
    assert lifted.plane_inlier_ratio < 0.95  # the other surface was seen and rejected
    assert angle_deg(lifted.approach_camera, table_normal) < 1.0


def test_place_without_a_plane_is_refused() -> None:
    camera = make_camera()
    rng = np.random.default_rng(5)
    clutter = rng.uniform(0.4, 3.0, size=(H, W))  # no surface anywhere
    with pytest.raises(RefPointError) as err:
        lift_pixel(camera, encode(clutter, "32FC1"), "32FC1", 80, 60, Mode.PLACE)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "no support plane" in err.value.message
    assert "min_plane_inlier_ratio=0.5" in err.value.message


def test_place_with_too_few_points_is_refused() -> None:
    camera = make_camera()
    depth = np.full((H, W), np.nan)
    depth[60, 70:75] = 1.0
    with pytest.raises(RefPointError) as err:
        lift_pixel(camera, encode(depth, "32FC1"), "32FC1", 72, 60, Mode.PLACE)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "no support surface" in err.value.message


def test_place_on_a_plane_seen_edge_on_is_refused() -> None:
    camera = make_camera(cx=83.0)
    # Points of the plane x = 0 (through the optical centre) all image onto column u = cx, at any
    # depth: the plane is fitted exactly, but the ray through that column lies inside it.
    depth = np.full((H, W), np.nan)
    depth[:, 83] = 0.5 + np.arange(H) * 0.01
    with pytest.raises(RefPointError) as err:
        lift_pixel(camera, encode(depth, "32FC1"), "32FC1", 83, 60, Mode.PLACE, min_valid_ratio=0)
    assert err.value.status is Status.NO_VALID_DEPTH
    assert "grazes the support plane" in err.value.message


# --- property: lifting then projecting gives the pixel back ---------------------------------


@settings(max_examples=60, deadline=None)
@given(
    fx=st.floats(80.0, 400.0),
    aspect=st.floats(0.8, 1.25),
    cx=st.floats(20.0, W - 20.0),
    cy=st.floats(20.0, H - 20.0),
    tx=st.floats(-50.0, 0.0),
    tilt_x=st.floats(-0.4, 0.4),
    tilt_y=st.floats(-0.4, 0.4),
    distance=st.floats(0.3, 5.0),
    u=st.floats(0.0, W - 1.0),
    v=st.floats(0.0, H - 1.0),
    place=st.booleans(),
)
def test_project_of_lift_is_the_pixel(
    fx: float,
    aspect: float,
    cx: float,
    cy: float,
    tx: float,
    tilt_x: float,
    tilt_y: float,
    distance: float,
    u: float,
    v: float,
    place: bool,
) -> None:
    camera = make_camera(fx=fx, fy=fx * aspect, cx=cx, cy=cy, tx=tx)
    normal = np.array([tilt_x, tilt_y, -1.0])
    normal /= np.linalg.norm(normal)
    depth = plane_depth(camera, normal, -distance * abs(normal[2]))
    mode = Mode.PLACE if place else Mode.LOCATE
    lifted = lift_pixel(camera, encode(depth, "32FC1"), "32FC1", u, v, mode, max_range_m=100.0)
    pu, pv = camera.project(lifted.point_camera)
    assert abs(pu - u) < 1e-6
    assert abs(pv - v) < 1e-6


# --- resize mappings ------------------------------------------------------------------------


def test_normalised_answer_maps_to_the_same_fraction_of_the_image() -> None:
    assert model_to_image_pixel(0.5, 0.25, 1280, 720) == (640.0, 180.0)
    assert model_to_image_pixel(0.0, 0.0, 1280, 720) == (0.0, 0.0)
    assert model_to_image_pixel(1.0, 1.0, 1280, 720) == (1279.0, 719.0)  # kept inside


def test_normalisation_cancels_the_resize() -> None:
    # The model saw the 1280x720 frame resized to 640x360 and pointed at its pixel (320, 90).
    x_norm, y_norm = 320 / 640, 90 / 360
    assert model_to_image_pixel(x_norm, y_norm, 1280, 720) == image_pixel_from_model_pixel(
        320, 90, (640, 360), (1280, 720)
    )


def test_model_pixel_scales_per_axis_like_the_scaled_camera() -> None:
    camera = make_camera()
    small = camera.scaled(W // 2, H // 3)
    point = np.array([0.12, -0.05, 1.3])
    u, v = image_pixel_from_model_pixel(*small.project(point), (W // 2, H // 3), (W, H))
    assert (u, v) == pytest.approx(camera.project(point))


def test_model_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="model_size"):
        image_pixel_from_model_pixel(1.0, 1.0, (0, 10), (100, 100))


def test_a_plane_seen_near_grazing_does_not_beat_the_support() -> None:
    """Two planes pass through the anchor: the support (seen at ~48 deg, like the table from the
    G1's head camera) and one that nearly contains the viewing rays, holding more points (in a
    depth image such a plane collects the points of several surfaces along an edge). With the
    viewing ray the support wins; without it, the grazing plane would."""
    from roborefer_ros.core.lifting import _fit_plane

    rng = np.random.default_rng(4)
    anchor = np.array([0.0, 0.0, 0.5])
    ray = anchor / np.linalg.norm(anchor)
    xs, ys = rng.uniform(-0.05, 0.05, 60), rng.uniform(-0.05, 0.05, 60)
    support = np.column_stack((xs, ys, 0.5 + 0.9 * ys))  # normal ~(0, -0.67, 0.74)
    xg, zg = rng.uniform(-0.05, 0.05, 100), rng.uniform(0.45, 0.55, 100)
    grazing = np.column_stack((xg, 0.05 * (zg - 0.5), zg))  # contains rays within ~3 deg
    points = np.vstack((support, grazing))
    weights = np.ones(points.shape[0])
    support_normal = np.array([0.0, -0.9, 1.0]) / math.hypot(0.9, 1.0)

    normal, _, inliers = _fit_plane(points, weights, 0.003, anchor, ray)
    assert abs(float(normal @ support_normal)) > 0.999
    assert inliers[:60].all()
    unfiltered, _, _ = _fit_plane(points, weights, 0.003, anchor)
    assert abs(float(unfiltered @ support_normal)) < 0.9  # the mechanism the ray guards against
