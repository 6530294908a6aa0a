"""Dex3 hand commands for the G1 (ROS-free): 7 motors per hand, open and close targets.

Motor order (``HandCmd.motor_cmd[0..6]``): thumb_0, thumb_1, thumb_2, middle_0, middle_1, index_0,
index_1 (the URDF's ``<side>_hand_<name>_joint``). Each motor's ``mode`` byte packs the motor id
(bits 0-3), the status 1 = enabled (bits 4-6) and a timeout flag (bit 7):
``mode = id | 1 << 4 | timeout << 7``.

Targets come from the URDF's hand joint limits: open = every joint at 0 (fingers straight, the end
of each range nearest 0), except that a joint whose range also reaches past 0 away from its closing
direction (thumb_1: the thumb swings away from the fingers) goes ``open_spread_fraction`` of the way
there, so a release clears the body it let go of (a cup stays wedged between a straight thumb and
the fingers and rises with the hand); close = each joint ``close_fraction`` of the way from 0 to the
end of its range farthest from 0, except thumb_0 (the thumb's opposition about the palm's y axis),
which stays at 0. A power-grasp approximation: measure the grasp on the robot before relying on
it.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1.arm_sdk import MotorCommand
from roborefer_ros.manipulation.g1.kinematics import ArmSide, G1KinematicsError, find_g1_urdf

HAND_JOINTS = ("thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1")
NUM_HAND_MOTORS = len(HAND_JOINTS)
STATUS_ENABLED = 1


def dex3_mode(motor_id: int, timeout: bool = False, status: int = STATUS_ENABLED) -> int:
    """The Dex3 mode byte: id in bits 0-3, status in bits 4-6, timeout in bit 7."""
    if not 0 <= motor_id < 16:
        raise ValueError(f"Dex3 motor id must be in [0, 15], got {motor_id}")
    if not 0 <= status < 8:
        raise ValueError(f"Dex3 status must be in [0, 7], got {status}")
    return motor_id | status << 4 | int(bool(timeout)) << 7


@dataclass(frozen=True)
class HandConfig:
    kp: float = 1.5
    kd: float = 0.15
    close_fraction: float = 0.8
    open_spread_fraction: float = 1.0
    timeout: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.kp) and 0.0 < self.kp <= 5.0):
            raise ValueError(f"hand kp must be in (0, 5], got {self.kp!r}")
        if not (math.isfinite(self.kd) and 0.0 <= self.kd <= 1.0):
            raise ValueError(f"hand kd must be in [0, 1], got {self.kd!r}")
        for name in ("close_fraction", "open_spread_fraction"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")


@dataclass(frozen=True)
class HandLimits:
    side: ArmSide
    lower: tuple[float, ...]  # 7 values, rad, in HAND_JOINTS order
    upper: tuple[float, ...]


@dataclass(frozen=True)
class HandCommand:
    side: ArmSide
    motors: tuple[MotorCommand, ...]  # 7, in HAND_JOINTS order


@dataclass(frozen=True)
class HandStateSample:
    """The measured joints of one hand (``unitree_hg/HandState``'s motor_state q, in
    HAND_JOINTS order) with its receive time on the bridge's clock."""

    side: ArmSide
    q: npt.NDArray[np.float64]
    received_s: float


def load_hand_limits(side: ArmSide, urdf_path: Path | None = None) -> HandLimits:
    path = urdf_path if urdf_path is not None else find_g1_urdf()
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise G1KinematicsError("urdf", f"cannot read G1 URDF {path}: {err}") from None
    joints = {j.get("name", ""): j for j in root.findall("joint")}
    lower, upper = [], []
    for joint in HAND_JOINTS:
        name = f"{side.value}_hand_{joint}_joint"
        element = joints.get(name)
        limit = element.find("limit") if element is not None else None
        if limit is None:
            raise G1KinematicsError("urdf", f"{path}: hand joint {name!r} or its limits missing")
        lower.append(float(limit.get("lower", "0")))
        upper.append(float(limit.get("upper", "0")))
    return HandLimits(side, tuple(lower), tuple(upper))


def _range_ends(lo: float, hi: float) -> tuple[float, float, float]:
    """(rest, closing end, opening end) of a joint range: rest is the end nearest 0 (0 inside
    the range), the closing end the one farthest from 0, the opening end the other one."""
    far = lo if abs(lo) > abs(hi) else hi
    return min(max(0.0, lo), hi), far, hi if far == lo else lo


def open_targets(limits: HandLimits, spread_fraction: float = 0.0) -> tuple[float, ...]:
    out = []
    for index, (lo, hi) in enumerate(zip(limits.lower, limits.upper, strict=True)):
        start, far, spread = _range_ends(lo, hi)
        if index == 0 or (spread - start) * (far - start) >= 0.0:
            out.append(start)  # thumb_0 turns the thumb about the palm: never spread
        else:
            out.append(start + spread_fraction * (spread - start))
    return tuple(out)


def close_targets(limits: HandLimits, close_fraction: float) -> tuple[float, ...]:
    out = []
    for index, (lo, hi) in enumerate(zip(limits.lower, limits.upper, strict=True)):
        start, far, _ = _range_ends(lo, hi)
        out.append(start if index == 0 else start + close_fraction * (far - start))
    return tuple(out)


def hand_command(limits: HandLimits, closed: bool, config: HandConfig) -> HandCommand:
    """The HandCmd content that opens or closes one hand."""
    targets = (
        close_targets(limits, config.close_fraction)
        if closed
        else open_targets(limits, config.open_spread_fraction)
    )
    motors = tuple(
        MotorCommand(
            mode=dex3_mode(index, config.timeout),
            q=q,
            kp=config.kp,
            kd=config.kd,
        )
        for index, q in enumerate(targets)
    )
    return HandCommand(limits.side, motors)


# The joints that close around an object: the thumb's bend and both fingers (thumb_0, the
# thumb's opposition about the palm, does not close).
CLOSING_JOINTS = (1, 2, 3, 4, 5, 6)


def closure(limits: HandLimits, config: HandConfig, q: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """How far each closing joint got from the open target to the close target (0 open, 1 at
    the close target), in CLOSING_JOINTS order."""
    opened = np.array(open_targets(limits, config.open_spread_fraction))
    closed = np.array(close_targets(limits, config.close_fraction))
    measured = np.asarray(q, dtype=np.float64)
    index = list(CLOSING_JOINTS)
    travel = closed[index] - opened[index]
    moving = np.abs(travel) > 1e-9  # a joint with no travel is where it was told to be
    got = measured[index] - opened[index]
    return np.where(moving, got / np.where(moving, travel, 1.0), 1.0).astype(np.float64)


def closed_on_nothing(
    limits: HandLimits, config: HandConfig, q: npt.ArrayLike, empty_closure: float
) -> bool:
    """Every closing joint reached ``empty_closure`` of its travel: nothing stopped a finger or
    the thumb, so nothing is between them (after the lift, a held object leaves the least-closed
    joint at 24-87% of its travel in the simulator's grasps, seeds 0-49)."""
    return bool(np.all(closure(limits, config, q) >= empty_closure))
