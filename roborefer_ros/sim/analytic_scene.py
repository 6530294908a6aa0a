"""A synthetic tabletop seen by a moving RGB-D camera, with exact ground truth (ROS-free).

Depth is ray-cast analytically (a table plane z=0 and axis-aligned boxes in ``base_link``), so a
pixel's true 3D point is known exactly. Used by the live-graph tests and the benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.referring import ReferringQuery, ReferringSet
from roborefer_ros.core.request import Mode
from roborefer_ros.core.transforms import Transform

# camera_link (x forward, z up) -> optical frame (z forward, x right, y down): REP-103 / REP-105.
T_LINK_FROM_OPTICAL = Transform((0.0, 0.0, 0.0), (-0.5, 0.5, -0.5, 0.5))


@dataclass(frozen=True)
class Box:
    name: str
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    rgb: tuple[int, int, int]

    @property
    def top_center(self) -> npt.NDArray[np.float64]:
        x, y, z = self.center
        return np.array([x, y, z + self.size[2] / 2], dtype=np.float64)


DEFAULT_BOXES = (
    Box("red box", (0.55, 0.10, 0.05), (0.08, 0.08, 0.10), (220, 30, 30)),
    Box("blue box", (0.60, -0.15, 0.04), (0.10, 0.06, 0.08), (30, 60, 220)),
    Box("green box", (0.45, -0.02, 0.03), (0.06, 0.06, 0.06), (30, 180, 60)),
)


@dataclass(frozen=True)
class SyntheticScene:
    """Camera on a slider: it looks down at the table and moves along y (``speed_mps``)."""

    width: int = 640
    height: int = 480
    fovy_deg: float = 55.0
    boxes: tuple[Box, ...] = DEFAULT_BOXES
    camera_height_m: float = 0.75
    camera_x_m: float = 0.05
    pitch_rad: float = 0.85  # downwards tilt of camera_link's x axis
    speed_mps: float = 0.0
    sweep_m: float = 0.15
    base_frame: str = "base_link"
    link_frame: str = "camera_link"
    optical_frame: str = "camera_color_optical_frame"
    _rays: npt.NDArray[np.float64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cam = self.camera_model()
        u, v = np.meshgrid(
            np.arange(self.width, dtype=np.float64), np.arange(self.height, dtype=np.float64)
        )
        rays = np.stack([(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, np.ones_like(u)], axis=-1)
        object.__setattr__(self, "_rays", rays)  # optical-frame rays with z = 1

    def camera_model(self) -> CameraModel:
        fy = (self.height / 2) / math.tan(math.radians(self.fovy_deg) / 2)
        cx, cy = (self.width - 1) / 2, (self.height - 1) / 2
        k = np.array([[fy, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)
        p = np.hstack([k, np.zeros((3, 1))])
        return CameraModel(
            self.width, self.height, k, p, (0.0,) * 5, "plumb_bob", self.optical_frame
        )

    def camera_y(self, t_s: float) -> float:
        if self.speed_mps == 0.0:
            return 0.0
        # triangle wave within +-sweep_m: constant speed, so stamps matter
        period = 4 * self.sweep_m / self.speed_mps
        phase = (t_s % period) / period
        return self.sweep_m * (4 * phase - 1 if phase < 0.5 else 3 - 4 * phase)

    def T_base_from_link(self, t_s: float) -> Transform:
        half = self.pitch_rad / 2
        quat = (0.0, math.sin(half), 0.0, math.cos(half))  # rotation about y: x axis tilts down
        return Transform((self.camera_x_m, self.camera_y(t_s), self.camera_height_m), quat)

    def T_base_from_optical(self, t_s: float) -> Transform:
        return self.T_base_from_link(t_s) @ T_LINK_FROM_OPTICAL

    def render(self, t_s: float) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        """(rgb HxWx3 uint8, depth HxW float32 metres along the optical axis; NaN = no return)."""
        T = self.T_base_from_optical(t_s).as_matrix()
        R, o = T[:3, :3], T[:3, 3]
        d = self._rays @ R.T  # base-frame directions, scaled so optical z = 1 -> t = depth
        best = np.full(d.shape[:2], np.inf)
        rgb = np.empty((*d.shape[:2], 3), dtype=np.uint8)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_table = np.where(d[..., 2] < 0, -o[2] / d[..., 2], np.inf)
        hit = np.isfinite(t_table)
        best[hit] = t_table[hit]
        xy = o[:2] + d[..., :2] * np.where(hit, t_table, 0.0)[..., None]
        checker = ((np.floor(xy[..., 0] / 0.05) + np.floor(xy[..., 1] / 0.05)) % 2).astype(np.uint8)
        rgb[...] = np.where(checker[..., None] == 1, 170, 140).astype(np.uint8)
        for box in self.boxes:
            lo = np.asarray(box.center) - np.asarray(box.size) / 2
            hi = np.asarray(box.center) + np.asarray(box.size) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = (lo - o) / d
                t2 = (hi - o) / d
            t_near = np.nanmax(np.minimum(t1, t2), axis=-1)
            t_far = np.nanmin(np.maximum(t1, t2), axis=-1)
            box_hit = (t_near <= t_far) & (t_near > 0) & (t_near < best)
            best[box_hit] = t_near[box_hit]
            rgb[box_hit] = box.rgb
        depth = np.where(np.isfinite(best), best, np.nan).astype(np.float32)
        return rgb, depth

    def pixel_of(self, point_base: npt.NDArray[np.float64], t_s: float) -> tuple[float, float]:
        """(u, v) of a base-frame point in the image at time t_s."""
        p_optical = self.T_base_from_optical(t_s).inverse().apply(point_base)
        return self.camera_model().project(np.asarray(p_optical, dtype=np.float64))


def scene_referring(
    scene: SyntheticScene,
    targets: dict[str, tuple[npt.NDArray[np.float64], float, Mode]],
    t0_ns: int,
    tolerance_m: float = 0.01,
) -> ReferringSet:
    """Ground truth for ``prompt -> (point in base_link, scene time, mode)`` at stamps t0 + t."""
    queries = []
    for prompt, (point, t_s, mode) in targets.items():
        u, v = scene.pixel_of(point, t_s)
        queries.append(
            ReferringQuery(
                prompt=prompt,
                stamp_ns=t0_ns + round(t_s * 1e9),
                pixel=(u, v),
                point=(float(point[0]), float(point[1]), float(point[2])),
                mode=mode,
                tolerance_m=tolerance_m,
            )
        )
    return ReferringSet(target_frame=scene.base_frame, queries=tuple(queries))
