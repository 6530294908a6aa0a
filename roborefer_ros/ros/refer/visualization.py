"""RViz output of a result: a sphere, the pose's +z axis as an arrow, and a label per point."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from roborefer_ros.core.result import ReferOutcome
from roborefer_ros.core.transforms import quat_to_matrix
from roborefer_ros.ros.conversions import time_msg

NAMESPACE = "roborefer"


def _point(xyz: np.ndarray) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def outcome_markers(outcome: ReferOutcome, arrow_length_m: float = 0.1) -> MarkerArray:
    """Markers in the target frame at the image's stamp; a DELETEALL first clears old ones."""
    header = Header(frame_id=outcome.target_frame, stamp=time_msg(outcome.frame_stamp_ns))
    markers = MarkerArray()
    markers.markers.append(Marker(header=header, ns=NAMESPACE, action=Marker.DELETEALL))
    for i, target in enumerate(outcome.points):
        origin = np.asarray(target.point_target, dtype=np.float64)
        z_axis = np.asarray(quat_to_matrix(target.quat_xyzw_target))[:, 2]

        sphere = Marker(header=header, ns=NAMESPACE, id=3 * i, type=Marker.SPHERE)
        sphere.pose.position = _point(origin)
        sphere.pose.orientation.w = 1.0
        sphere.scale.x = sphere.scale.y = sphere.scale.z = 0.02
        sphere.color = ColorRGBA(r=1.0, g=0.2, b=0.2, a=1.0)

        arrow = Marker(header=header, ns=NAMESPACE, id=3 * i + 1, type=Marker.ARROW)
        arrow.pose.orientation.w = 1.0  # drawn from two points, so the pose stays identity
        arrow.points = [_point(origin), _point(origin + arrow_length_m * z_axis)]
        arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.006, 0.012, 0.02
        arrow.color = ColorRGBA(r=0.2, g=0.6, b=1.0, a=1.0)

        label = Marker(header=header, ns=NAMESPACE, id=3 * i + 2, type=Marker.TEXT_VIEW_FACING)
        label.pose.position = _point(origin + np.array([0.0, 0.0, 0.05]))
        label.pose.orientation.w = 1.0
        label.scale.z = 0.03
        label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        label.text = f"{i}: {outcome.request.prompt[:40]}"
        markers.markers.extend([sphere, arrow, label])
    return markers
