"""One rendered RGB-D frame with its camera, and the thin wrapper around ``mujoco.Renderer``.

MuJoCo's depth render is already metric depth along the optical axis; pixels that hit no geometry
become NaN (no return). Segmentation is turned into scene labels: an object's index (>= 0) or one
of the SEG_* constants below. The wrapper owns a GL context, so it renders on the thread that
created it; MUJOCO_GL must be set (``egl`` headless) before ``mujoco`` is first imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.transforms import Transform
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.camera_rig import T_LINK_FROM_OPTICAL

SEG_NONE = -1  # background, floor, anything that is not below
SEG_TABLE = -2
SEG_ROBOT = -3

Uint8Image = npt.NDArray[np.uint8]
DepthImage = npt.NDArray[np.float32]
LabelImage = npt.NDArray[np.int32]


@dataclass(frozen=True)
class RenderedFrame:
    """An aligned RGB-D frame of the scene at scene time ``t_s``, with exact geometry.

    ``rgb``: HxWx3 uint8. ``depth_m``: HxW float32 metres along the optical axis, NaN = no return.
    ``labels``: HxW int32, the object index at each pixel or SEG_NONE / SEG_TABLE / SEG_ROBOT.
    ``T_base_from_optical``: pose of ``camera.frame_id`` in base_link at ``t_s``.
    """

    t_s: float
    rgb: Uint8Image
    depth_m: DepthImage
    labels: LabelImage
    camera: CameraModel
    T_base_from_optical: Transform

    @property
    def stamp_ns(self) -> int:
        """Scene time in nanoseconds (a bag writer adds its own start time)."""
        return round(self.t_s * 1e9)

    @property
    def T_base_from_link(self) -> Transform:
        """Pose of ``camera_link`` (REP-103 axes) in base_link, for a TF tree."""
        return self.T_base_from_optical @ T_LINK_FROM_OPTICAL.inverse()


class FrameRenderer:
    """Renders one MuJoCo camera to RGB, depth and raw segmentation, shadows and reflections off.

    ``model`` and ``data`` are ``mujoco.MjModel`` / ``mujoco.MjData``; Any stays in this class.
    """

    def __init__(self, model: Any, width: int, height: int) -> None:
        mujoco = import_mujoco()
        self._mujoco = mujoco
        self._renderer = mujoco.Renderer(model, height=height, width=width)
        flags = self._renderer.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False

    def render(self, data: Any, camera: str) -> tuple[Uint8Image, DepthImage, LabelImage]:
        """(rgb HxWx3 uint8, depth HxW float32 m with NaN, geom id HxW int32 with -1 = none)."""
        renderer = self._renderer
        renderer.update_scene(data, camera=camera)
        rgb = np.array(renderer.render(), dtype=np.uint8)
        renderer.enable_depth_rendering()
        depth = np.array(renderer.render(), dtype=np.float32)
        renderer.disable_depth_rendering()
        renderer.enable_segmentation_rendering()
        seg = np.asarray(renderer.render(), dtype=np.int32)
        renderer.disable_segmentation_rendering()
        is_geom = seg[..., 1] == int(self._mujoco.mjtObj.mjOBJ_GEOM)
        geom_ids = np.where(is_geom, seg[..., 0], -1).astype(np.int32)
        depth[geom_ids < 0] = np.nan
        return rgb, depth, geom_ids

    def close(self) -> None:
        self._renderer.close()
