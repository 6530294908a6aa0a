"""The perceived object extent across the wire: the refer node fills a RefPoint response's
object_* fields, pick_place_node reads them back into the same estimate in its plan frame, and
reports the geometry its plan used in the PickPlace result (real rclpy messages, no graph)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from roborefer_ros.action import PickPlace
from roborefer_ros.srv import RefPoint

from roborefer_ros.core.object_extent import ObjectExtent, Shape
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.result import ReferOutcome, TargetPoint
from roborefer_ros.core.status import Status
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.manipulation.pick_place import ObjectGeometry, PickPlaceOutcome
from roborefer_ros.ros.pick_place.messages import fill_result as fill_pick_place_result
from roborefer_ros.ros.pick_place.messages import target_from_response
from roborefer_ros.ros.refer.messages import fill_result
from test.test_pipeline import make_frame, refer

# camera looking straight down from 1 m above base_link's origin, image x along base x
T_BASE_FROM_CAMERA = Transform((0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 0.0))


def _outcome_with(extent: ObjectExtent | None) -> ReferOutcome:
    """A LOCATE outcome whose one point carries ``extent`` (camera frame)."""
    real = refer(ReferRequest("the top of the red box", mode=Mode.LOCATE), make_frame())
    assert real.status is Status.OK, real.message
    point = real.points[0]
    with_extent = TargetPoint(
        point.x_norm,
        point.y_norm,
        point.lifted,
        point.point_target,
        point.quat_xyzw_target,
        extent,
        None if extent is None else extent.in_frame(T_BASE_FROM_CAMERA),
    )
    return ReferOutcome(
        real.request, real.status, real.message, real.mode, "base_link", real.frame_stamp_ns,
        real.camera_frame, points=(with_extent,),
    )  # fmt: skip


def _box_extent(confidence: float = 0.8, note: str = "") -> ObjectExtent:
    """A 10 x 4 x 6 cm box seen from above: base 1 m from the camera, length along camera x."""
    return ObjectExtent(
        centre_camera=np.array([0.2, -0.1, 1.0]),
        x_axis_camera=np.array([math.cos(0.3), math.sin(0.3), 0.0]),
        up_camera=np.array([0.0, 0.0, -1.0]),
        body_centre_camera=np.array([0.21, -0.1, 1.0]),
        length_m=0.10,
        width_m=0.04,
        height_m=0.06,
        shape=Shape.BOX,
        confidence=confidence,
        visible_fraction=0.92,
        n_points=200,
        reason=note,
    )


def test_the_extent_survives_the_refpoint_response() -> None:
    response = fill_result(RefPoint.Response(), _outcome_with(_box_extent(0.8, "low note")))
    msg = response.points[0]
    assert msg.object_shape == msg.OBJECT_SHAPE_BOX
    assert msg.object_confidence == pytest.approx(0.8)
    assert msg.object_pose.header.frame_id == "base_link"
    target = target_from_response(response)
    extent = target.extent
    assert extent is not None
    # camera (0.2, -0.1, 1.0) -> base (0.2, 0.1, 0.0) under the 180-degree turn about x
    assert extent.base_centre == pytest.approx((0.2, 0.1, 0.0), abs=1e-6)
    assert extent.centre == pytest.approx((0.2, 0.1, 0.03), abs=1e-6)
    assert extent.body_centre == pytest.approx((0.21, 0.1, 0.03), abs=1e-6)
    assert extent.size_m == pytest.approx((0.10, 0.04, 0.06), abs=1e-6)
    assert extent.yaw_rad == pytest.approx(-0.3, abs=1e-6)  # y flips under the turn
    assert extent.up == pytest.approx((0.0, 0.0, 1.0), abs=1e-9)
    assert (extent.shape, extent.note) == (Shape.BOX, "low note")
    assert extent.visible_fraction == pytest.approx(0.92)


def test_a_point_without_an_estimate_says_so() -> None:
    response = fill_result(RefPoint.Response(), _outcome_with(None))
    msg = response.points[0]
    assert msg.object_confidence == 0.0 and msg.object_shape == msg.OBJECT_SHAPE_UNKNOWN
    assert "not estimated" in msg.object_note
    assert target_from_response(response).extent is None


def test_the_pick_place_result_reports_the_geometry_it_used() -> None:
    outcome = PickPlaceOutcome(
        PickPlaceStatus.OK,
        "done",
        geometry=ObjectGeometry("perceived", (0.1, 0.04, 0.06), 0.5, (0.2, 0.1, 0.03)),
    )
    result = fill_pick_place_result(PickPlace.Result(), outcome)
    assert result.object_geometry == "perceived"
    size = result.object_size_used_m
    assert (size.x, size.y, size.z) == pytest.approx((0.1, 0.04, 0.06))
    assert result.object_yaw_used_rad == pytest.approx(0.5)
    nothing = fill_pick_place_result(PickPlace.Result(), PickPlaceOutcome(PickPlaceStatus.OK, ""))
    assert nothing.object_geometry == ""
