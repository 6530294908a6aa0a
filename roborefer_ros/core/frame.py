"""The frozen RGB-D frame one request works on, from the model input to the TF lookup."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.status import RefPointError, Status


@dataclass(frozen=True)
class Frame:
    """One aligned RGB-D frame.

    ``rgb``: HxWx3 uint8 in RGB channel order (a view of the message buffer when possible).
    ``depth``: HxW in the encoding's own dtype and unit (uint16 mm for 16UC1, float32 m for 32FC1);
    interpret it only through ``roborefer_ros.core.depth`` traits.
    """

    stamp_ns: int
    frame_id: str
    rgb: npt.NDArray[np.uint8]
    depth: npt.NDArray[np.generic]
    depth_encoding: str
    camera: CameraModel
    depth_frame_id: str = ""

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    def validate(self) -> None:
        """Raise BAD_FRAME when colour, depth and intrinsics do not describe one camera."""
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise RefPointError(Status.BAD_FRAME, f"colour image has shape {self.rgb.shape}")
        if self.depth.shape[:2] != self.rgb.shape[:2]:
            raise RefPointError(
                Status.BAD_FRAME,
                f"depth {self.depth.shape[1]}x{self.depth.shape[0]} is not aligned with colour "
                f"{self.width}x{self.height}",
            )
        if self.depth_frame_id and self.frame_id and self.depth_frame_id != self.frame_id:
            raise RefPointError(
                Status.BAD_FRAME,
                f"depth frame '{self.depth_frame_id}' differs from colour frame "
                f"'{self.frame_id}'; use depth aligned to colour",
            )
        self.camera.validate()
        if (self.camera.width, self.camera.height) != (self.width, self.height):
            raise RefPointError(
                Status.BAD_FRAME,
                f"camera_info is {self.camera.width}x{self.camera.height} but the image is "
                f"{self.width}x{self.height}",
            )


def stamp_to_ns(sec: int, nanosec: int) -> int:
    return int(sec) * 1_000_000_000 + int(nanosec)


def ns_to_stamp(stamp_ns: int) -> tuple[int, int]:
    return stamp_ns // 1_000_000_000, stamp_ns % 1_000_000_000
