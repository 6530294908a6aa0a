"""A depth camera looking straight down on a table with boxes on it, ray-cast exactly (tests)."""

from __future__ import annotations

import numpy as np

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.transforms import Transform, matrix_to_quat
from roborefer_ros.manipulation.obstacles import DepthView

Box = tuple[tuple[float, float, float], tuple[float, float, float]]  # (min xyz, max xyz)

# optical x -> plan -y, optical y -> plan -x, optical z (the view) -> plan -z
R_PLAN_FROM_OPTICAL = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


def camera(width: int = 320, height: int = 240, focal: float = 250.0) -> CameraModel:
    k = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
    return CameraModel(width, height, k, np.hstack([k, np.zeros((3, 1))]), frame_id="cam")


def top_down_view(
    boxes: list[Box],
    table_z: float,
    eye: tuple[float, float, float] = (0.30, 0.0, 0.60),
    model: CameraModel | None = None,
) -> DepthView:
    """The depth image (metres along the optical axis) of the table plane ``z = table_z`` and
    the boxes, seen from ``eye`` looking down."""
    cam = model or camera()
    rows, cols = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    optical = np.stack(
        [(cols - cam.cx) / cam.fx, (rows - cam.cy) / cam.fy, np.ones_like(cols)], axis=-1
    )
    rays = optical.reshape(-1, 3) @ R_PLAN_FROM_OPTICAL.T  # plan-frame directions, optical z = 1
    origin = np.asarray(eye)
    depth = (table_z - origin[2]) / rays[:, 2]  # the optical depth equals the ray parameter
    for low, high in boxes:
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (np.asarray(low) - origin) / rays
            t2 = (np.asarray(high) - origin) / rays
        near = np.nanmax(np.minimum(t1, t2), axis=1)
        far = np.nanmin(np.maximum(t1, t2), axis=1)
        hit = (far >= near) & (near > 0)
        depth = np.where(hit & (near < depth), near, depth)
    T = Transform(tuple(float(v) for v in eye), matrix_to_quat(R_PLAN_FROM_OPTICAL))
    return DepthView(depth.reshape(cam.height, cam.width).astype(np.float32), cam, T, "torso_link")
