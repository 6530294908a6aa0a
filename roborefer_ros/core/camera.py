"""Pinhole camera model with image_geometry semantics.

Conventions (as in image_geometry / depth_image_proc): ``u`` is the column, ``v`` the row, pixel
centres at integer coordinates; rays are computed from the projection matrix ``P`` (rectified
geometry), so pixels are taken to be rectified. Aligned depth from an RGB-D camera shares the colour
camera's model.

Points are in this camera's own optical frame, as depth_image_proc builds its clouds: only fx, fy,
cx, cy of ``P`` are used. P's fourth column (Tx = -fx * B of a stereo pair) maps points from the
*first* camera's frame; applying it in ``project`` but not in ``pixel_to_ray`` (or the other way
round) would make the two disagree by Tx / Z pixels, so neither applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.status import RefPointError, Status

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera at one resolution (the fields of sensor_msgs/CameraInfo we use)."""

    width: int
    height: int
    k: FloatArray  # 3x3 intrinsic matrix of the raw image
    p: FloatArray  # 3x4 projection matrix of the rectified image
    d: tuple[float, ...] = ()
    distortion_model: str = "plumb_bob"
    frame_id: str = ""
    _p_fx: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        k = np.asarray(self.k, dtype=np.float64).reshape(3, 3)
        p = np.asarray(self.p, dtype=np.float64).reshape(3, 4)
        if not p.any() and k.any():
            # CameraInfo from some drivers leaves P empty; fall back to K with no baseline.
            p = np.hstack([k, np.zeros((3, 1))])
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "p", p)
        object.__setattr__(self, "_p_fx", float(p[0, 0]))

    @classmethod
    def from_camera_info(cls, msg: Any) -> CameraModel:
        """From a sensor_msgs/CameraInfo: an rclpy message or a rosbags one (same field names)."""
        return cls(
            width=int(msg.width),
            height=int(msg.height),
            k=np.asarray(msg.k, dtype=np.float64),
            p=np.asarray(msg.p, dtype=np.float64),
            d=tuple(float(x) for x in msg.d),
            distortion_model=str(msg.distortion_model),
            frame_id=str(msg.header.frame_id),
        )

    @property
    def fx(self) -> float:
        return float(self.p[0, 0])

    @property
    def fy(self) -> float:
        return float(self.p[1, 1])

    @property
    def cx(self) -> float:
        return float(self.p[0, 2])

    @property
    def cy(self) -> float:
        return float(self.p[1, 2])

    def validate(self) -> None:
        """Raise BAD_FRAME when the model cannot project (zero focal length or size)."""
        if self.width <= 0 or self.height <= 0:
            raise RefPointError(
                Status.BAD_FRAME, f"camera_info has a zero size: {self.width}x{self.height}"
            )
        if not (self.fx > 0.0 and self.fy > 0.0) or not np.isfinite(self.p).all():
            raise RefPointError(
                Status.BAD_FRAME,
                f"camera_info has unusable intrinsics: fx={self.fx}, fy={self.fy}",
            )

    def pixel_to_ray(self, u: float, v: float) -> FloatArray:
        """Unit ray (3,) float64 in the optical frame through rectified pixel (u=column, v=row)."""
        x = (u - self.cx) / self.fx
        y = (v - self.cy) / self.fy
        ray = np.array([x, y, 1.0])
        unit: FloatArray = ray / np.linalg.norm(ray)
        return unit

    def project(self, point_camera: FloatArray) -> tuple[float, float]:
        """Rectified pixel (u, v) of a 3D point (3,) in the optical frame (z forward); inverse of
        ``pixel_to_ray`` for any depth."""
        x, y, z = (float(c) for c in point_camera)
        return self.fx * x / z + self.cx, self.fy * y / z + self.cy

    def scaled(self, width: int, height: int) -> CameraModel:
        """The same camera at another resolution (what a resized model input sees)."""
        sx = width / self.width
        sy = height / self.height
        scale = np.diag([sx, sy, 1.0])
        return CameraModel(
            width=width,
            height=height,
            k=scale @ self.k,
            p=scale @ self.p,
            d=self.d,
            distortion_model=self.distortion_model,
            frame_id=self.frame_id,
        )
