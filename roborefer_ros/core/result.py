"""What one request produced: typed results the ROS adapter turns into messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.lifting import LiftedPoint
from roborefer_ros.core.object_extent import FramedExtent, ObjectExtent
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.status import Status


class Stage(IntEnum):
    """Request stages; values equal the Refer action's STAGE_* feedback constants."""

    WAIT_FRAME = 0
    MODEL = 1
    LIFT = 2
    TF = 3


@dataclass(frozen=True)
class StageTimings:
    wait_frame_s: float = 0.0
    model_s: float = 0.0
    lift_s: float = 0.0
    tf_s: float = 0.0
    total_s: float = 0.0


@dataclass(frozen=True)
class TargetPoint:
    """One pointed pixel lifted to 3D and expressed in the target frame."""

    x_norm: float
    y_norm: float
    lifted: LiftedPoint
    point_target: npt.NDArray[np.float64]  # (3,) metres in target_frame
    quat_xyzw_target: tuple[float, float, float, float]  # pose orientation in target_frame
    # LOCATE: the pointed object's extent from the same frame (camera frame and target frame);
    # None when not estimated (PLACE, or estimate_object_extent off)
    extent: ObjectExtent | None = None
    extent_target: FramedExtent | None = None


@dataclass(frozen=True)
class ReferOutcome:
    """The result of one request, success or not; ``message`` explains failures."""

    request: ReferRequest
    status: Status
    message: str
    mode: Mode = Mode.AUTO
    target_frame: str = ""
    frame_stamp_ns: int = 0  # 0 when no frame was frozen
    camera_frame: str = ""
    raw_answer: str = ""
    backend: str = ""
    depth_source: str = "none"
    points: tuple[TargetPoint, ...] = ()
    timings: StageTimings = field(default_factory=StageTimings)

    @property
    def success(self) -> bool:
        return self.status is Status.OK
