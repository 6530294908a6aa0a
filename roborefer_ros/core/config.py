"""The validated, frozen configuration of a refer node (built once from ROS parameters)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from roborefer_ros.core.status import RefPointError, Status


@dataclass(frozen=True)
class ReferConfig:
    target_frame: str = "base_link"
    max_frame_age_s: float = 1.0  # STALE_FRAME beyond this (latest-frame requests only); 0 = off
    frame_wait_timeout_s: float = 2.0  # wait for a frame at/after min_stamp (or any frame)
    model_timeout_s: float = 30.0
    tf_timeout_s: float = 0.5
    max_prompt_chars: int = 2000
    depth_window_px: int = 7
    min_valid_ratio: float = 0.2
    min_range_m: float = 0.05
    max_range_m: float = 10.0
    plane_radius_px: int = 25
    estimate_object_extent: bool = True  # LOCATE: the pointed object's extent from the frame

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise RefPointError(Status.BAD_REQUEST, f"parameter {f.name} is negative: {value}")
        if self.depth_window_px < 1 or self.depth_window_px % 2 == 0:
            raise RefPointError(
                Status.BAD_REQUEST, f"depth_window_px must be odd and >= 1: {self.depth_window_px}"
            )
        if not 0.0 < self.min_valid_ratio <= 1.0:
            raise RefPointError(
                Status.BAD_REQUEST, f"min_valid_ratio must be in (0, 1]: {self.min_valid_ratio}"
            )
        if self.max_range_m <= self.min_range_m:
            raise RefPointError(
                Status.BAD_REQUEST,
                f"max_range_m ({self.max_range_m}) must exceed min_range_m ({self.min_range_m})",
            )
        if not self.target_frame.strip():
            raise RefPointError(Status.BAD_REQUEST, "target_frame must not be empty")
