"""The simulated RGB-D camera: D435-like pinhole intrinsics and a tripod pose that may move.

Poses use the OpenCV optical convention (x right, y down, z forward) and are given as
``T_base_from_optical``. A MuJoCo camera looks along its -z with y up, so its frame is the
optical frame turned by diag(1, -1, -1); ``mujoco_quat_wxyz`` does that conversion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.transforms import Transform, matrix_to_quat
from roborefer_ros.sim.errors import SimError

Vec3 = tuple[float, float, float]

OPTICAL_FRAME = "camera_color_optical_frame"
LINK_FRAME = "camera_link"
BASE_FRAME = "base_link"
# camera_link (x forward, y left, z up; REP-103) -> optical frame (z forward, x right, y down).
T_LINK_FROM_OPTICAL = Transform((0.0, 0.0, 0.0), (-0.5, 0.5, -0.5, 0.5))
_FLIP_YZ = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class CameraMotion:
    """A periodic sweep of the tripod head about the vertical axis through the target.

    ``azimuth(t) = amplitude * sin(2 pi t / period)`` and the eye height bobs by
    ``height_amplitude_m`` with the same phase; zero amplitudes give a static camera.
    """

    azimuth_amplitude_rad: float = 0.0
    height_amplitude_m: float = 0.0
    period_s: float = 8.0

    def __post_init__(self) -> None:
        if not self.period_s > 0.0:
            raise SimError(f"period_s must be > 0, got {self.period_s}")

    @property
    def is_static(self) -> bool:
        return self.azimuth_amplitude_rad == 0.0 and self.height_amplitude_m == 0.0


@dataclass(frozen=True)
class CameraRig:
    """A camera at ``eye_m`` looking at ``target_m`` (base_link), image ``width`` x ``height``."""

    eye_m: Vec3
    target_m: Vec3
    fovy_deg: float = 45.0
    width: int = 640
    height: int = 480
    motion: CameraMotion = CameraMotion()

    def __post_init__(self) -> None:
        if not 10.0 <= self.fovy_deg <= 120.0:
            raise SimError(f"fovy_deg must be in [10, 120], got {self.fovy_deg}")
        if self.width <= 0 or self.height <= 0:
            raise SimError(f"image size must be positive, got {self.width}x{self.height}")

    def camera_model(self) -> CameraModel:
        """Intrinsics of MuJoCo's pinhole: fy = (H/2)/tan(fovy/2), fx = fy, centre (W-1)/2."""
        fy = (self.height / 2.0) / math.tan(math.radians(self.fovy_deg) / 2.0)
        cx, cy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        k = np.array([[fy, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        p = np.hstack([k, np.zeros((3, 1))])
        return CameraModel(self.width, self.height, k, p, (0.0,) * 5, "plumb_bob", OPTICAL_FRAME)

    def pose_at(self, t_s: float) -> Transform:
        """``T_base_from_optical`` at scene time ``t_s`` (seconds)."""
        target = np.asarray(self.target_m)
        offset = np.asarray(self.eye_m) - target
        phase = math.sin(2.0 * math.pi * t_s / self.motion.period_s)
        angle = self.motion.azimuth_amplitude_rad * phase
        c, s = math.cos(angle), math.sin(angle)
        eye = target + np.array(
            [c * offset[0] - s * offset[1], s * offset[0] + c * offset[1], offset[2]]
        )
        eye[2] += self.motion.height_amplitude_m * phase
        return look_at(eye, target)


def look_at(eye_m: npt.ArrayLike, target_m: npt.ArrayLike) -> Transform:
    """Optical frame at ``eye_m`` with z towards ``target_m`` and no roll (image x horizontal)."""
    forward = np.asarray(target_m, dtype=np.float64) - np.asarray(eye_m, dtype=np.float64)
    norm = float(np.linalg.norm(forward))
    if norm < 1e-9:
        raise SimError(f"camera eye and target coincide at {np.asarray(eye_m).tolist()}")
    z = forward / norm
    x = np.cross(z, np.array([0.0, 0.0, 1.0]))
    if float(np.linalg.norm(x)) < 1e-6:
        raise SimError("the camera looks straight up or down; its roll is undefined")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    eye = np.asarray(eye_m, dtype=np.float64)
    quat = matrix_to_quat(np.column_stack([x, y, z]))
    return Transform((float(eye[0]), float(eye[1]), float(eye[2])), quat)


def mujoco_quat_wxyz(T_base_from_optical: Transform) -> tuple[float, float, float, float]:
    """The orientation MuJoCo expects for a camera whose optical frame has this pose."""
    x, y, z, w = matrix_to_quat(T_base_from_optical.rotation_matrix() @ _FLIP_YZ)
    return (w, x, y, z)
