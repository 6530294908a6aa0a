"""What a scene must provide to be recorded as a bag: typed frames and its fixed transforms.

Any renderer (the analytic ``SyntheticScene``, MuJoCo scenes) plugs into the bag writer by
satisfying ``FrameSource``; the writer never needs to know where frames come from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from roborefer_ros.bags.errors import BagError
from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.tf_buffer import StampedTransform


@dataclass(frozen=True)
class SceneFrame:
    """One rendered RGB-D frame with the moving transforms at its stamp.

    ``rgb``: HxWx3 uint8 RGB. ``depth_m``: HxW float32 metres along the optical axis, aligned with
    ``rgb``; NaN, inf or <= 0 mean no return. ``camera``: intrinsics, ``camera.frame_id`` is the
    optical frame both images are in. ``transforms``: T_parent_from_child of every edge that moves,
    stamped ``stamp_ns`` (published on /tf before the images).
    """

    stamp_ns: int
    rgb: npt.NDArray[np.uint8]
    depth_m: npt.NDArray[np.float32]
    camera: CameraModel
    transforms: tuple[StampedTransform, ...] = ()

    def validate(self) -> None:
        """Raise BagError when the frame cannot be recorded as one aligned RGB-D camera."""
        where = f"frame at {self.stamp_ns} ns"
        if self.stamp_ns <= 0:
            raise BagError(f"{where}: stamp must be > 0")
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise BagError(
                f"{where}: rgb must be HxWx3 uint8, got {self.rgb.shape} {self.rgb.dtype}"
            )
        if self.depth_m.shape != self.rgb.shape[:2]:
            raise BagError(f"{where}: depth {self.depth_m.shape} is not aligned with rgb")
        if (self.camera.height, self.camera.width) != self.rgb.shape[:2]:
            raise BagError(
                f"{where}: camera is {self.camera.width}x{self.camera.height}, "
                f"image {self.rgb.shape[1]}x{self.rgb.shape[0]}"
            )
        if not self.camera.frame_id:
            raise BagError(f"{where}: camera.frame_id (the optical frame) is empty")


class FrameSource(Protocol):
    """A scene to record: frames in stamp order, and the transforms that never change."""

    def static_transforms(self) -> tuple[StampedTransform, ...]:
        """T_parent_from_child of the fixed edges (all go into one /tf_static message)."""
        ...

    def frames(self) -> Iterator[SceneFrame]:
        """The frames, strictly increasing in ``stamp_ns``."""
        ...
