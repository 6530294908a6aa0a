"""Refuse unsafe targets before anything moves (ROS-free).

A target is refused (``REJECTED``, with a message naming the value and the bound) when

- it, or any TCP pose of the plan built from it, lies outside the workspace box (plan frame): a
  model that points at the wrong thing must not send the arm into the table, a wall or a person;
- its depth evidence is weak: RefPoint's ``depth_valid_ratio`` below ``min_depth_valid_ratio``
  (a point lifted from a few valid pixels at an edge can be off by the object's size);
- it is older than ``max_target_age_s`` (stamp vs now: the scene may have changed since), or
  stamped in the future by more than ``max_future_s`` (a clock problem);
- a place surface's normal is tilted more than ``max_surface_tilt_deg`` from the plan frame's +z.

Ready poses from a planner carry no depth evidence (``depth_valid_ratio`` None) and a zero stamp
means "no time": those two checks are skipped for them, the workspace still applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from roborefer_ros.core.transforms import Vec3
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.steps import StepPlan


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned box in the plan frame, metres."""

    min_xyz: Vec3
    max_xyz: Vec3

    def __post_init__(self) -> None:
        if len(self.min_xyz) != 3 or len(self.max_xyz) != 3:
            raise ValueError(f"workspace corners need 3 values: {self.min_xyz}, {self.max_xyz}")
        lo, hi = np.asarray(self.min_xyz, float), np.asarray(self.max_xyz, float)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo < hi)):
            raise ValueError(
                f"workspace min {list(self.min_xyz)} must be finite and below max "
                f"{list(self.max_xyz)} on every axis"
            )

    def contains(self, point: Vec3) -> bool:
        p = np.asarray(point, dtype=np.float64)
        return bool(np.all(p >= self.min_xyz) and np.all(p <= self.max_xyz))

    def describe(self) -> str:
        return ", ".join(
            f"{axis} {lo:g}..{hi:g}"
            for axis, lo, hi in zip("xyz", self.min_xyz, self.max_xyz, strict=True)
        )


@dataclass(frozen=True)
class SafetyConfig:
    workspace: WorkspaceBox = WorkspaceBox((0.15, -0.6, -0.05), (0.9, 0.6, 0.7))
    min_depth_valid_ratio: float = 0.5
    max_target_age_s: float = 10.0  # 0 disables
    max_future_s: float = 1.0
    max_surface_tilt_deg: float = 30.0
    # a perceived object extent less certain than this is REJECTED, never grasped blindly
    min_object_confidence: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_object_confidence <= 1.0:
            raise ValueError(
                f"min_object_confidence must be in [0, 1], got {self.min_object_confidence!r}"
            )
        if not 0.0 <= self.min_depth_valid_ratio <= 1.0:
            raise ValueError(
                f"min_depth_valid_ratio must be in [0, 1], got {self.min_depth_valid_ratio!r}"
            )
        for name in ("max_target_age_s", "max_future_s"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.max_surface_tilt_deg <= 90.0:
            raise ValueError(
                f"max_surface_tilt_deg must be in [0, 90], got {self.max_surface_tilt_deg!r}"
            )


def _reject(message: str) -> PickPlaceError:
    return PickPlaceError(PickPlaceStatus.REJECTED, message)


def _fmt(point: Vec3) -> str:
    return "(" + ", ".join(f"{c:.3f}" for c in point) + ")"


def check_target(
    label: str,
    point: Vec3,
    stamp_ns: int,
    now_ns: int,
    depth_valid_ratio: float | None,
    cfg: SafetyConfig,
) -> None:
    """Raise PickPlaceError(REJECTED) when the target itself is unsafe; ``label``: pick/place."""
    if not all(math.isfinite(c) for c in point):
        raise _reject(f"{label} target {list(point)} is not finite")
    if not cfg.workspace.contains(point):
        raise _reject(
            f"{label} target {_fmt(point)} is outside the workspace ({cfg.workspace.describe()})"
        )
    if depth_valid_ratio is not None and depth_valid_ratio < cfg.min_depth_valid_ratio:
        raise _reject(
            f"{label} target has weak depth: valid ratio {depth_valid_ratio:.2f} < "
            f"{cfg.min_depth_valid_ratio:.2f}"
        )
    if stamp_ns > 0:
        age_s = (now_ns - stamp_ns) * 1e-9
        if cfg.max_target_age_s > 0 and age_s > cfg.max_target_age_s:
            raise _reject(
                f"{label} target is {age_s:.2f} s old (stamp {stamp_ns * 1e-9:.3f} s); "
                f"the limit is {cfg.max_target_age_s:g} s"
            )
        if -age_s > cfg.max_future_s:
            raise _reject(
                f"{label} target is stamped {-age_s:.2f} s in the future "
                f"(stamp {stamp_ns * 1e-9:.3f} s): check the clocks"
            )


def check_surface(normal: Vec3, cfg: SafetyConfig) -> None:
    """Raise REJECTED when a place surface is too steep to put an object down on."""
    n = np.asarray(normal, dtype=np.float64)
    norm = float(np.linalg.norm(n))
    if not (math.isfinite(norm) and norm > 1e-9):
        raise _reject(f"place surface normal {list(normal)} is zero or not finite")
    tilt_deg = math.degrees(math.acos(max(-1.0, min(1.0, float(n[2]) / norm))))
    if tilt_deg > cfg.max_surface_tilt_deg:
        raise _reject(
            f"place surface is tilted {tilt_deg:.1f} deg from vertical-up; "
            f"the limit is {cfg.max_surface_tilt_deg:g} deg"
        )


def check_plan(plan: StepPlan, cfg: SafetyConfig) -> None:
    """Raise REJECTED when any TCP pose of the plan (pre-grasp, lift, ...) leaves the box."""
    for index, step in enumerate(plan.steps):
        if step.tcp_pose is not None and not cfg.workspace.contains(step.tcp_pose.translation):
            raise _reject(
                f"step {index} ({step.label}) would take the TCP to "
                f"{_fmt(step.tcp_pose.translation)}, outside the workspace "
                f"({cfg.workspace.describe()})"
            )
