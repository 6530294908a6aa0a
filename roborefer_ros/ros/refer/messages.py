"""Typed results -> ROS messages, and requests <- ROS messages (the one place that maps them)."""

from __future__ import annotations

from typing import Any

from geometry_msgs.msg import PointStamped, PoseStamped
from std_msgs.msg import Header

from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.result import ReferOutcome, TargetPoint
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
    return msg


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
