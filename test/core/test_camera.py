"""CameraModel: u is the column, rays come from P, and project() inverts pixel_to_ray; CameraInfo
binning and ROI as image_geometry applies them (checked against hand-computed intrinsics);
implausible intrinsics are a BAD_FRAME that names them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.status import RefPointError, Status


def make_camera(tx: float = 0.0, ty: float = 0.0) -> CameraModel:
    """640x480 camera whose rectified P differs from K (so using K by mistake shows)."""
    k = np.array([[610.0, 0.0, 318.0], [0.0, 605.0, 242.0], [0.0, 0.0, 1.0]])
    p = np.array([[600.0, 0.0, 330.0, tx], [0.0, 590.0, 250.0, ty], [0.0, 0.0, 1.0, 0.0]])
    return CameraModel(640, 480, k, p, frame_id="cam_optical")


def test_principal_point_looks_down_the_optical_axis() -> None:
    np.testing.assert_allclose(make_camera().pixel_to_ray(330.0, 250.0), [0.0, 0.0, 1.0])


def test_ray_is_unit_and_u_is_the_column() -> None:
    ray = make_camera().pixel_to_ray(630.0, 250.0)  # right of centre, same row
    assert np.linalg.norm(ray) == pytest.approx(1.0)
    assert ray[0] > 0.0
    assert ray[1] == pytest.approx(0.0)
    assert ray[0] / ray[2] == pytest.approx(300.0 / 600.0)  # P's fx and cx, not K's


def test_empty_p_falls_back_to_k() -> None:
    k = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
    camera = CameraModel(640, 480, k, np.zeros((3, 4)))
    assert (camera.fx, camera.cx, camera.cy) == (500.0, 320.0, 240.0)
    np.testing.assert_allclose(camera.p[:, 3], 0.0)


@pytest.mark.parametrize("tx, ty", [(0.0, 0.0), (-36.0, 0.0), (-36.0, 4.0)])
@pytest.mark.parametrize("depth_m", [0.3, 1.0, 4.0])
def test_project_inverts_pixel_to_ray_at_any_depth(tx: float, ty: float, depth_m: float) -> None:
    # Regression: rays used to subtract Tx / fx while project() added Tx / Z through P, so with a
    # stereo baseline in P[0, 3] the two disagreed by Tx * (1 / Z - 1) pixels.
    camera = make_camera(tx, ty)
    for u, v in [(0.0, 0.0), (100.25, 400.75), (639.0, 479.0)]:
        ray = camera.pixel_to_ray(u, v)
        pu, pv = camera.project(ray * depth_m / ray[2])
        assert (pu, pv) == pytest.approx((u, v), abs=1e-9)


def test_scaled_camera_sees_the_same_ray_at_the_scaled_pixel() -> None:
    camera = make_camera(tx=-36.0)
    small = camera.scaled(320, 240)
    assert (small.width, small.height) == (320, 240)
    assert small.fx == pytest.approx(300.0)
    assert small.cy == pytest.approx(125.0)
    np.testing.assert_allclose(small.pixel_to_ray(50.0, 60.0), camera.pixel_to_ray(100.0, 120.0))
    point = np.array([0.1, -0.2, 1.5])
    u, v = camera.project(point)
    su, sv = small.project(point)
    assert (su, sv) == pytest.approx((u / 2, v / 2))


@pytest.mark.parametrize(
    "camera, fragment",
    [
        (CameraModel(0, 480, np.eye(3), np.zeros((3, 4))), "zero size: 0x480"),
        (CameraModel(640, 480, np.zeros((3, 3)), np.zeros((3, 4))), "fx=0.0"),
    ],
)
def test_validate_names_the_unusable_value(camera: CameraModel, fragment: str) -> None:
    with pytest.raises(RefPointError) as err:
        camera.validate()
    assert err.value.status is Status.BAD_FRAME
    assert fragment in err.value.message


def test_valid_camera_passes_validation() -> None:
    make_camera().validate()


# -- CameraInfo binning and ROI, as image_geometry applies them -------------------------------
# A 1280x720 sensor: K (raw) and P (rectified) differ, P has a stereo-like Tx, so each is checked.
SENSOR_K = [910.0, 0.0, 641.5, 0.0, 905.0, 362.25, 0.0, 0.0, 1.0]
SENSOR_P = [900.0, 0.0, 645.0, -40.0, 0.0, 896.0, 360.5, 8.0, 0.0, 0.0, 1.0, 0.0]


def camera_info(
    binning: tuple[int, int] = (0, 0),
    roi: tuple[int, int, int, int] = (0, 0, 0, 0),
    k: list[float] | None = None,
    p: list[float] | None = None,
    size: tuple[int, int] = (1280, 720),
) -> SimpleNamespace:
    """A sensor_msgs/CameraInfo look-alike (the fields from_camera_info reads)."""
    x, y, w, h = roi
    return SimpleNamespace(
        width=size[0],
        height=size[1],
        k=SENSOR_K if k is None else k,
        p=SENSOR_P if p is None else p,
        d=[0.0] * 5,
        distortion_model="plumb_bob",
        header=SimpleNamespace(frame_id="cam_optical"),
        binning_x=binning[0],
        binning_y=binning[1],
        roi=SimpleNamespace(x_offset=x, y_offset=y, width=w, height=h, do_rectify=False),
    )


def test_no_binning_and_no_roi_keep_the_sensor_model() -> None:
    for binning in ((0, 0), (1, 1)):
        camera = CameraModel.from_camera_info(camera_info(binning))
        assert (camera.width, camera.height) == (1280, 720)
        np.testing.assert_array_equal(camera.k.ravel(), SENSOR_K)
        np.testing.assert_array_equal(camera.p.ravel(), SENSOR_P)


def test_binning_scales_the_intrinsics_and_the_size() -> None:
    camera = CameraModel.from_camera_info(camera_info(binning=(2, 4)))
    assert (camera.width, camera.height) == (640, 180)
    # hand-computed: fx, cx (and Tx) / 2, fy, cy (and Ty) / 4
    np.testing.assert_allclose(
        camera.k, [[455.0, 0.0, 320.75], [0.0, 226.25, 90.5625], [0.0, 0.0, 1.0]]
    )
    np.testing.assert_allclose(
        camera.p, [[450.0, 0.0, 322.5, -20.0], [0.0, 224.0, 90.125, 2.0], [0.0, 0.0, 1.0, 0.0]]
    )
    camera.validate()


def test_roi_offsets_the_principal_point() -> None:
    camera = CameraModel.from_camera_info(camera_info(roi=(100, 50, 640, 480)))
    assert (camera.width, camera.height) == (640, 480)
    np.testing.assert_allclose(
        camera.k, [[910.0, 0.0, 541.5], [0.0, 905.0, 312.25], [0.0, 0.0, 1.0]]
    )
    np.testing.assert_allclose(
        camera.p, [[900.0, 0.0, 545.0, -40.0], [0.0, 896.0, 310.5, 8.0], [0.0, 0.0, 1.0, 0.0]]
    )
    camera.validate()


def test_roi_then_binning() -> None:
    camera = CameraModel.from_camera_info(camera_info(binning=(2, 2), roi=(100, 50, 640, 480)))
    assert (camera.width, camera.height) == (320, 240)
    # (641.5 - 100) / 2, (362.25 - 50) / 2; P: (645 - 100) / 2, (360.5 - 50) / 2
    assert (camera.k[0, 0], camera.k[0, 2], camera.k[1, 2]) == (455.0, 270.75, 156.125)
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (450.0, 448.0, 272.5, 155.25)
    camera.validate()


def test_a_point_lands_on_the_same_sensor_pixel_in_every_reduced_image() -> None:
    full = CameraModel.from_camera_info(camera_info())
    reduced = CameraModel.from_camera_info(camera_info(binning=(2, 2), roi=(100, 50, 640, 480)))
    point = np.array([0.12, -0.05, 0.8])
    u, v = full.project(point)
    ru, rv = reduced.project(point)
    assert (ru * 2 + 100, rv * 2 + 50) == pytest.approx((u, v))
    np.testing.assert_allclose(reduced.pixel_to_ray(ru, rv), full.pixel_to_ray(u, v))


def test_a_binned_image_passes_frame_validation_and_the_sensor_size_does_not() -> None:
    camera = CameraModel.from_camera_info(camera_info(binning=(2, 2)))
    ok = Frame(
        0,
        "cam_optical",
        np.zeros((360, 640, 3), np.uint8),
        np.zeros((360, 640), np.uint16),
        "16UC1",
        camera,
    )
    ok.validate()
    full = Frame(
        0,
        "cam_optical",
        np.zeros((720, 1280, 3), np.uint8),
        np.zeros((720, 1280), np.uint16),
        "16UC1",
        camera,
    )
    with pytest.raises(RefPointError, match="camera_info is 640x360 but the image is 1280x720"):
        full.validate()


def test_an_roi_off_the_sensor_is_a_bad_frame() -> None:
    with pytest.raises(RefPointError, match="does not fit the 1280x720 sensor") as err:
        CameraModel.from_camera_info(camera_info(roi=(1000, 0, 640, 480)))
    assert err.value.status is Status.BAD_FRAME


# -- implausible intrinsics ----------------------------------------------------------------------


def test_a_degenerate_focal_length_is_a_bad_frame_naming_it() -> None:
    k = [1e-300, 0.0, 320.0, 0.0, 1e-300, 240.0, 0.0, 0.0, 1.0]
    camera = CameraModel.from_camera_info(camera_info(k=k, p=[0.0] * 12, size=(640, 480)))
    with pytest.raises(RefPointError) as err:
        camera.validate()
    assert err.value.status is Status.BAD_FRAME
    assert "fx=1e-300" in err.value.message and "field of view" in err.value.message


def test_intrinsics_in_normalised_units_are_a_bad_frame_naming_them() -> None:
    k = [0.97, 0.0, 0.5, 0.0, 0.97, 0.5, 0.0, 0.0, 1.0]
    camera = CameraModel.from_camera_info(camera_info(k=k, p=[0.0] * 12, size=(640, 480)))
    with pytest.raises(RefPointError) as err:
        camera.validate()
    message = err.value.message
    assert err.value.status is Status.BAD_FRAME
    for name in ("fx=0.97", "fy=0.97", "cx=0.5", "cy=0.5", "normalised units"):
        assert name in message, message


def test_a_principal_point_off_the_image_is_a_bad_frame() -> None:
    k = [600.0, 0.0, 900.0, 0.0, 600.0, 240.0, 0.0, 0.0, 1.0]
    camera = CameraModel.from_camera_info(camera_info(k=k, p=[0.0] * 12, size=(640, 480)))
    with pytest.raises(RefPointError, match=r"principal point \(900, 240\) lies outside"):
        camera.validate()


def test_an_roi_far_from_the_centre_keeps_a_plausible_camera() -> None:
    """The principal point of an ROI image may lie outside it: judged on the sensor, it is fine."""
    camera = CameraModel.from_camera_info(camera_info(roi=(1000, 600, 280, 120)))
    assert camera.cx < 0 and camera.cy < 0
    camera.validate()


@pytest.mark.parametrize("fx", [60.0, 300.0, 5000.0])
def test_ordinary_focal_lengths_pass(fx: float) -> None:
    k = [fx, 0.0, 320.0, 0.0, fx, 240.0, 0.0, 0.0, 1.0]
    CameraModel.from_camera_info(camera_info(k=k, p=[0.0] * 12, size=(640, 480))).validate()
