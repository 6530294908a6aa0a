"""Start-up / periodic self-check of the camera input, reported on /diagnostics.

ROS-free: it takes the newest frame (or none) and a transform lookup, and says what is wrong in
words a person at the robot can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from roborefer_ros.core.depth import depth_traits
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.status import RefPointError


class Level(IntEnum):
    """Same values as diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    message: str


def run_self_check(
    frame_or_error: Frame | RefPointError | None,
    target_frame: str,
    can_transform: Callable[[str, str, int], bool],
) -> tuple[Check, ...]:
    """Checks: frames arriving, encodings supported, RGB/depth agree, intrinsics, TF reachable."""
    if frame_or_error is None:
        return (Check("frames", Level.WARN, "no synchronised colour+depth+camera_info frame yet"),)
    if isinstance(frame_or_error, RefPointError):
        return (Check("frames", Level.ERROR, frame_or_error.message),)
    frame = frame_or_error
    checks = [
        Check(
            "frames", Level.OK, f"latest frame {frame.width}x{frame.height} in '{frame.frame_id}'"
        )
    ]
    try:
        depth_traits(frame.depth_encoding)
        checks.append(Check("encodings", Level.OK, f"depth {frame.depth_encoding}"))
    except RefPointError as err:
        checks.append(Check("encodings", Level.ERROR, err.message))
    try:
        frame.validate()
        checks.append(Check("geometry", Level.OK, "colour, depth and intrinsics agree"))
    except RefPointError as err:
        checks.append(Check("geometry", Level.ERROR, err.message))
    if can_transform(target_frame, frame.frame_id, frame.stamp_ns):
        checks.append(Check("tf", Level.OK, f"'{target_frame}' <- '{frame.frame_id}' available"))
    else:
        checks.append(
            Check(
                "tf",
                Level.ERROR,
                f"no transform '{target_frame}' <- '{frame.frame_id}' at the latest frame",
            )
        )
    return tuple(checks)
