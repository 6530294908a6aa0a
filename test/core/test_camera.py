"""CameraModel: u is the column, rays come from P, and project() inverts pixel_to_ray."""

from __future__ import annotations

import numpy as np
import pytest

from roborefer_ros.core.camera import CameraModel
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
