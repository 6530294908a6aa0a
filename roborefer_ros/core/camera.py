"""Pinhole camera model with image_geometry semantics.

Conventions (as in image_geometry / depth_image_proc): ``u`` is the column, ``v`` the row, pixel
centres at integer coordinates; rays are computed from the projection matrix ``P`` (rectified
geometry), so pixels are taken to be rectified. Aligned depth from an RGB-D camera shares the colour
camera's model.

Binning and region of interest are handled as image_geometry handles them (``from_camera_info``):
``width``/``height`` of the CameraInfo are the full sensor resolution the camera was calibrated
at; the image itself is the ROI (all zeros: the full sensor) divided by the binning (0 = 1), and
the intrinsics of that image are K and P with the ROI offset subtracted from the principal point,
then fx, cx (and P's Tx) divided by ``binning_x`` and fy, cy (Ty) by ``binning_y``.

Points are in this camera's own optical frame, as depth_image_proc builds its clouds: only fx, fy,
cx, cy of ``P`` are used. P's fourth column (Tx = -fx * B of a stereo pair) maps points from the
*first* camera's frame; applying it in ``project`` but not in ``pixel_to_ray`` (or the other way
round) would make the two disagree by Tx / Z pixels, so neither applies it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.status import RefPointError, Status

FloatArray = npt.NDArray[np.float64]

# Plausible pinhole intrinsics, checked at the full sensor resolution: a horizontal and vertical
# field of view below MAX_FOV_DEG (a focal length of a few pixels, or 1e-300, or intrinsics in
# normalised units on a pixel image, are not a camera this node can lift points with) and above
# MIN_FOV_DEG, and the principal point inside the sensor.
MAX_FOV_DEG = 170.0
MIN_FOV_DEG = 0.01


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
    # How this image sits on the calibrated sensor (from_camera_info): the ROI's top-left corner
    # in full-resolution pixels, the binning, and the full resolution (None: this image's size).
    roi_offset: tuple[int, int] = (0, 0)
    binning: tuple[int, int] = (1, 1)
    full_size: tuple[int, int] | None = None
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
        """The model of the image a sensor_msgs/CameraInfo describes (an rclpy message or a
        rosbags one: same field names), binning and ROI applied as image_geometry applies them.

        BAD_FRAME when the ROI does not fit on the sensor.
        """
        full_w, full_h = int(msg.width), int(msg.height)
        bin_x, bin_y = max(1, int(msg.binning_x)), max(1, int(msg.binning_y))
        roi = msg.roi
        x0, y0, roi_w, roi_h = (
            int(roi.x_offset),
            int(roi.y_offset),
            int(roi.width),
            int(roi.height),
        )
        if (x0, y0, roi_w, roi_h) == (0, 0, 0, 0):
            roi_w, roi_h = full_w, full_h  # all zeros: the full sensor
        if x0 + roi_w > full_w or y0 + roi_h > full_h or roi_w <= 0 or roi_h <= 0:
            raise RefPointError(
                Status.BAD_FRAME,
                f"camera_info roi x_offset={x0}, y_offset={y0}, width={roi_w}, height={roi_h} "
                f"does not fit the {full_w}x{full_h} sensor",
            )
        k = np.array(msg.k, dtype=np.float64).reshape(3, 3)
        p = np.array(msg.p, dtype=np.float64).reshape(3, 4)
        if not p.any() and k.any():
            p = np.hstack([k, np.zeros((3, 1))])  # as __post_init__ does, before adjusting
        for m in (k, p):
            m[0, 2] -= x0
            m[1, 2] -= y0
            m[0, :] /= bin_x  # fx, (skew,) cx and Tx
            m[1, :] /= bin_y  # fy, cy and Ty
        return cls(
            width=roi_w // bin_x,
            height=roi_h // bin_y,
            k=k,
            p=p,
            d=tuple(float(x) for x in msg.d),
            distortion_model=str(msg.distortion_model),
            frame_id=str(msg.header.frame_id),
            roi_offset=(x0, y0),
            binning=(bin_x, bin_y),
            full_size=(full_w, full_h),
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
        """Raise BAD_FRAME when the model cannot project (zero size, focal length not positive
        or not finite) or its intrinsics are implausible for the image size: a field of view
        outside MIN_FOV_DEG..MAX_FOV_DEG or a principal point off the sensor, judged at the full
        sensor resolution. The message names the values."""
        if self.width <= 0 or self.height <= 0:
            raise RefPointError(
                Status.BAD_FRAME, f"camera_info has a zero size: {self.width}x{self.height}"
            )
        values = f"fx={self.fx}, fy={self.fy}, cx={self.cx}, cy={self.cy}"
        if not (self.fx > 0.0 and self.fy > 0.0) or not np.isfinite(self.p).all():
            raise RefPointError(Status.BAD_FRAME, f"camera_info has unusable intrinsics: {values}")
        full_w, full_h = self.full_size or (self.width, self.height)
        bin_x, bin_y = self.binning
        x0, y0 = self.roi_offset
        # back to the calibrated sensor: undo the binning, then the ROI offset
        fx, fy = self.fx * bin_x, self.fy * bin_y
        cx, cy = self.cx * bin_x + x0, self.cy * bin_y + y0
        size = f"the {full_w}x{full_h} image" + (
            f" (sensor; this image {self.width}x{self.height})"
            if (full_w, full_h) != (self.width, self.height)
            else ""
        )
        fov_x = math.degrees(2.0 * math.atan2(full_w, 2.0 * fx))
        fov_y = math.degrees(2.0 * math.atan2(full_h, 2.0 * fy))
        problems = []
        for axis, fov in (("horizontal", fov_x), ("vertical", fov_y)):
            if not MIN_FOV_DEG <= fov <= MAX_FOV_DEG:
                problems.append(
                    f"focal length gives a {fov:.4g} deg {axis} field of view on {size} "
                    f"(plausible: {MIN_FOV_DEG:g}..{MAX_FOV_DEG:g} deg)"
                )
        if not (0.0 <= cx <= full_w and 0.0 <= cy <= full_h):
            problems.append(f"principal point ({cx:g}, {cy:g}) lies outside {size}")
        if problems:
            hint = (
                "; these look like normalised units, not pixels"
                if max(abs(self.fx), abs(self.fy), abs(self.cx), abs(self.cy)) < 2.0
                else ""
            )
            raise RefPointError(
                Status.BAD_FRAME,
                f"camera_info has implausible intrinsics ({values}): " + "; ".join(problems) + hint,
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
