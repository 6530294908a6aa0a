"""Typed results -> ROS messages, and requests <- ROS messages (the one place that maps them)."""

from __future__ import annotations

from typing import Any

from geometry_msgs.msg import PointStamped, PoseStamped, Vector3
from std_msgs.msg import Header

from roborefer_ros.core.object_extent import Shape
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.result import ReferOutcome, TargetPoint
from roborefer_ros.core.transforms import quat_from_axes
from roborefer_ros.msg import ReferPoint
from roborefer_ros.msg import StageTimings as StageTimingsMsg
from roborefer_ros.ros.conversions import stamp_ns, time_msg


def request_from_msg(msg: Any) -> ReferRequest:
    """A RefPoint request or Refer goal as a ReferRequest (BAD_REQUEST on an unknown mode)."""
    return ReferRequest(
        prompt=str(msg.prompt),
        target_frame=str(msg.target_frame),
        mode=Mode.parse(int(msg.mode)),
        min_stamp_ns=stamp_ns(msg.min_stamp),
        max_points=int(msg.max_points),
    )


def _point_msg(point: TargetPoint, target_header: Header, image_header: Header) -> ReferPoint:
    lifted = point.lifted
    msg = ReferPoint()
    msg.x_norm, msg.y_norm = float(point.x_norm), float(point.y_norm)
    msg.u, msg.v = float(lifted.pixel[0]), float(lifted.pixel[1])
    msg.depth_m = float(lifted.sample.depth_m)
    msg.depth_valid_ratio = float(lifted.sample.valid_ratio)
    msg.depth_spread_m = float(lifted.sample.spread_m)
    msg.plane_inlier_ratio = (
        float(lifted.plane_inlier_ratio) if lifted.plane_inlier_ratio is not None else -1.0
    )
    cam = lifted.point_camera
    msg.point_camera = PointStamped(header=image_header)
    msg.point_camera.point.x, msg.point_camera.point.y, msg.point_camera.point.z = (
        float(c) for c in cam
    )
    p = point.point_target
    msg.point = PointStamped(header=target_header)
    msg.point.point.x, msg.point.point.y, msg.point.point.z = (float(c) for c in p)
    msg.pose = PoseStamped(header=target_header)
    msg.pose.pose.position.x, msg.pose.pose.position.y, msg.pose.pose.position.z = (
        float(c) for c in p
    )
    q = msg.pose.pose.orientation
    q.x, q.y, q.z, q.w = (float(c) for c in point.quat_xyzw_target)
    _fill_object(msg, point, target_header)
    return msg


def _fill_object(msg: ReferPoint, point: TargetPoint, target_header: Header) -> None:
    """The object_* fields (ReferPoint.msg). No estimate made: confidence 0, a note, and an
    object_pose without a frame (a failed estimate keeps its frame: its note says why)."""
    extent, framed = point.extent, point.extent_target
    if extent is None or framed is None:
        msg.object_note = "not estimated (PLACE point, or estimate_object_extent is off)"
        msg.object_pose.pose.orientation.w = 1.0
        return
    msg.object_pose = PoseStamped(header=target_header)
    msg.object_shape = {Shape.BOX: 1, Shape.ROUND: 2}.get(framed.shape, 0)
    msg.object_confidence = float(framed.confidence)
    msg.object_visible_fraction = float(framed.visible_fraction)
    msg.object_note = extent.reason
    msg.object_size_m = Vector3(x=framed.size_m[0], y=framed.size_m[1], z=framed.size_m[2])
    position = msg.object_pose.pose.position
    position.x, position.y, position.z = framed.centre
    body = msg.object_body_centre
    body.x, body.y, body.z = framed.body_centre
    q = msg.object_pose.pose.orientation
    q.x, q.y, q.z, q.w = (float(c) for c in quat_from_axes(framed.up, framed.x_axis))


def fill_result(msg: Any, outcome: ReferOutcome) -> Any:
    """Fill the common result fields of a RefPoint response, Refer result or ReferResult."""
    image_header = Header(frame_id=outcome.camera_frame, stamp=time_msg(outcome.frame_stamp_ns))
    target_header = Header(frame_id=outcome.target_frame, stamp=time_msg(outcome.frame_stamp_ns))
    msg.success = outcome.success
    msg.status = int(outcome.status)
    msg.message = outcome.message
    msg.image_header = image_header
    msg.raw_answer = outcome.raw_answer
    msg.depth_source = outcome.depth_source
    msg.points = [_point_msg(p, target_header, image_header) for p in outcome.points]
    t = outcome.timings
    msg.timings = StageTimingsMsg(
        wait_frame_s=t.wait_frame_s,
        model_s=t.model_s,
        lift_s=t.lift_s,
        tf_s=t.tf_s,
        total_s=t.total_s,
    )
    return msg
