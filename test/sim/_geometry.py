"""Independent geometry for the simulation tests: back-projection and object surfaces.

Written from the definitions (pinhole through the CameraModel, primitives from the ObjectSpec), not
from roborefer_ros.sim's own helpers, so a bug there cannot cancel out here.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roborefer_ros.sim import CUP_HANDLE_FRACTION, ObjectKind, ObjectSpec, RenderedFrame

FloatArray = npt.NDArray[np.float64]


def backproject(frame: RenderedFrame, us: npt.ArrayLike, vs: npt.ArrayLike) -> FloatArray:
    """(N, 3) base_link points of pixels (u = column, v = row) from the frame's depth."""
    u = np.asarray(us, dtype=np.int64)
    v = np.asarray(vs, dtype=np.int64)
    z = frame.depth_m[v, u].astype(np.float64)
    pairs = zip(u.tolist(), v.tolist(), strict=True)
    rays = np.stack([frame.camera.pixel_to_ray(float(a), float(b)) for a, b in pairs])
    optical = rays * (z / rays[:, 2])[:, None]
    return frame.T_base_from_optical.apply(optical)


def surface_distance(obj: ObjectSpec, points_base: FloatArray) -> FloatArray:
    """(N,) distance-like value of points to the object's surface: 0 on it, < 0 inside."""
    local = obj.pose.inverse().apply(points_base)
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    r, _, hz = obj.dims_m
    parts: list[FloatArray] = []
    if obj.kind is ObjectKind.APPLE:
        parts.append(np.linalg.norm(local, axis=1) - r)
        parts.append(np.maximum(np.hypot(x, y) - 0.003, np.abs(z - (r + 0.004)) - 0.008))
    elif obj.kind is ObjectKind.BOX:
        hx, hy, hz = obj.dims_m
        parts.append(np.max(np.abs(local) - np.array([hx, hy, hz]), axis=1))
    else:
        parts.append(np.maximum(np.hypot(x, y) - r, np.abs(z) - hz))
    if obj.kind is ObjectKind.CUP:
        fx, fy, fz = CUP_HANDLE_FRACTION
        half = np.array([fx * r, fy * r, fz * hz])
        centre = np.array([r + fx * r, 0.0, 0.0])
        parts.append(np.max(np.abs(local - centre) - half, axis=1))
    nearest: FloatArray = np.min(np.stack(parts), axis=0)
    return nearest
