"""PickPlace goal -> PickPlaceRequest, RefPoint response -> Target, outcome -> result message."""

from __future__ import annotations

import math
from typing import Any

from geometry_msgs.msg import Pose, PoseStamped, Vector3
from std_msgs.msg import Header

from roborefer_ros.core.object_extent import FramedExtent, Shape
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.pick_place import (
    NUM_STAGES,
    PickPlaceOutcome,
    PickPlaceRequest,
    Target,
)
from roborefer_ros.ros.conversions import stamp_ns, time_msg


def transform_from_pose(pose: Pose, what: str) -> Transform:
    p, q = pose.position, pose.orientation
    try:
        return Transform((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
    except ValueError as err:  # zero or non-finite quaternion / position
        raise PickPlaceError(PickPlaceStatus.BAD_REQUEST, f"{what}: {err}") from None


def _given(msg: PoseStamped, what: str) -> Target | None:
    if not msg.header.frame_id:
        return None
    return Target(
        frame=msg.header.frame_id,
        pose=transform_from_pose(msg.pose, what),
        stamp_ns=stamp_ns(msg.header.stamp),
        depth_valid_ratio=None,
        source="given",
    )


def request_from_goal(goal: Any, default_frame: str) -> PickPlaceRequest:
    size = goal.object_size_m
    return PickPlaceRequest(
        frame=str(goal.target_frame).strip() or default_frame,
        pick_prompt=str(goal.pick_prompt),
        place_prompt=str(goal.place_prompt),
        pick_pose=_given(goal.pick_pose, "pick_pose"),
        place_pose=_given(goal.place_pose, "place_pose"),
        approach_distance_m=float(goal.approach_distance_m),
        lift_distance_m=float(goal.lift_distance_m),
        object_size_m=(float(size.x), float(size.y), float(size.z)),
        object_yaw_rad=float(goal.object_yaw_rad) if goal.object_yaw_known else None,
        dry_run=bool(goal.dry_run),
    )


def target_from_response(response: Any) -> Target:
    """The first point of a successful RefPoint response as a Target."""
    if not response.points:
        raise PickPlaceError(PickPlaceStatus.BACKEND_ERROR, "RefPoint answered OK with no point")
    point = response.points[0]
    return Target(
        frame=point.pose.header.frame_id,
        pose=transform_from_pose(point.pose.pose, "RefPoint pose"),
        stamp_ns=stamp_ns(point.pose.header.stamp),
        depth_valid_ratio=float(point.depth_valid_ratio),
        source="model",
        extent=extent_from_point(point),
    )


def extent_from_point(point: Any) -> FramedExtent | None:
    """The object_* fields of a ReferPoint (LOCATE) as a FramedExtent in its target frame; None
    when the node made no estimate (a PLACE point, or an older node without the fields)."""
    if not hasattr(point, "object_confidence") or not point.object_pose.header.frame_id:
        return None
    pose = transform_from_pose(point.object_pose.pose, "RefPoint object_pose")
    up = pose.rotate([0.0, 0.0, 1.0])
    x_axis = pose.rotate([1.0, 0.0, 0.0])
    half = 0.5 * float(point.object_size_m.z)
    centre = pose.translation
    size = point.object_size_m
    body = point.object_body_centre
    return FramedExtent(
        base_centre=(centre[0] - up[0] * half, centre[1] - up[1] * half, centre[2] - up[2] * half),
        centre=centre,
        body_centre=(body.x, body.y, body.z),
        up=(float(up[0]), float(up[1]), float(up[2])),
        x_axis=(float(x_axis[0]), float(x_axis[1]), float(x_axis[2])),
        yaw_rad=math.atan2(float(x_axis[1]), float(x_axis[0])),
        size_m=(float(size.x), float(size.y), float(size.z)),
        shape={1: Shape.BOX, 2: Shape.ROUND}.get(int(point.object_shape), Shape.UNKNOWN),
        confidence=float(point.object_confidence),
        visible_fraction=float(point.object_visible_fraction),
        note=str(point.object_note),
    )


def _pose_stamped(target: Target | None) -> PoseStamped:
    msg = PoseStamped()
    if target is None:
        return msg
    msg.header = Header(frame_id=target.frame, stamp=time_msg(target.stamp_ns))
    p, q = msg.pose.position, msg.pose.orientation
    p.x, p.y, p.z = target.pose.translation
    q.x, q.y, q.z, q.w = target.pose.quat_xyzw
    return msg


def fill_result(msg: Any, outcome: PickPlaceOutcome) -> Any:
    msg.success = outcome.success
    msg.status = int(outcome.status)
    msg.message = outcome.message
    msg.pick_target = _pose_stamped(outcome.pick)
    msg.place_target = _pose_stamped(outcome.place)
    msg.failed_step = -1 if outcome.failed_step is None else int(outcome.failed_step)
    msg.num_steps = 0 if outcome.plan is None else len(outcome.plan.steps)
    durations = list(outcome.stage_durations_s)[:NUM_STAGES]
    msg.stage_durations_s = durations + [0.0] * (NUM_STAGES - len(durations))
    msg.total_s = float(outcome.total_s)
    ran = outcome.step_durations_s
    steps = () if outcome.plan is None else outcome.plan.steps[: len(ran)]
    msg.step_labels = [step.label for step in steps]
    msg.step_durations_s = [float(d) for d in ran[: len(steps)]]
    msg.step_planning_s = [float(d) for d in outcome.step_planning_s[: len(steps)]]
    geometry = outcome.geometry
    if geometry is not None:
        msg.object_geometry = geometry.source
        msg.object_size_used_m = Vector3(
            x=geometry.size_m[0], y=geometry.size_m[1], z=geometry.size_m[2]
        )
        msg.object_yaw_used_rad = 0.0 if geometry.yaw_rad is None else float(geometry.yaw_rad)
    return msg
