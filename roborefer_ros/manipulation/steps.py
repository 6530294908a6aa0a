"""The seam between grasp/place planning and whatever moves the robot.

A planner turns RefPoint targets into a ``StepPlan`` (a short list of typed steps in one frame);
a ``ManipulationBackend`` (MoveIt 2 on a UR5, the G1 bridge, the MuJoCo simulation) executes it.
Poses are of the tool centre point (TCP, between the fingertips), not of the flange: each
backend applies its own TCP offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from roborefer_ros.core.transforms import Transform


class StepKind(Enum):
    MOVE = "move"  # free-space motion to the pose (planned, collision-aware)
    LINEAR = "linear"  # straight-line TCP motion to the pose (approach, lift, retreat)
    OPEN = "open"  # open the gripper / hand
    CLOSE = "close"  # close the gripper / hand on the object


class Stage(Enum):
    """PickPlace feedback stages (values equal the action's STAGE_* constants)."""

    REFER_PICK = 0
    PLAN = 1
    APPROACH = 2
    GRASP = 3
    LIFT = 4
    REFER_PLACE = 5
    PLACE = 6
    RETREAT = 7


@dataclass(frozen=True)
class Step:
    kind: StepKind
    stage: Stage
    label: str  # e.g. "pre-grasp", "approach", "close", "lift", "pre-place", "place", "open"
    tcp_pose: Transform | None = None  # T_frame_from_tcp; None for OPEN / CLOSE
    speed_scale: float = 1.0  # fraction of the backend's maximum speed


@dataclass(frozen=True)
class StepPlan:
    frame: str  # every tcp_pose is expressed in this frame (e.g. base_link)
    steps: tuple[Step, ...]
    object_half_height_m: float = 0.0  # of the held object, used for the place height
    # The grasped object's extent across the hand, between the fingers' side and the thumb's
    # (plan frame, FRONTAL: along y); 0: unknown or not needed (a parallel gripper centres it).
    grip_width_m: float = 0.0


class ExecutionStatus(Enum):
    SUCCEEDED = "succeeded"
    PLANNING_FAILED = "planning_failed"  # no motion plan / IK solution
    EXECUTION_FAILED = "execution_failed"  # controller error, tracking error, collision
    GRASP_FAILED = "grasp_failed"  # the gripper closed on nothing
    REJECTED = "rejected"  # unsafe target (workspace, stale, invalid)
    UNAVAILABLE = "unavailable"  # the backend cannot run here (missing packages, no robot)
    CANCELED = "canceled"


@dataclass(frozen=True)
class ExecutionResult:
    status: ExecutionStatus
    message: str
    failed_step: int | None = None  # index into the plan's steps
    step_durations_s: tuple[float, ...] = field(default_factory=tuple)  # wall time per step run
    # the planning share of each step's duration (motion planning, IK, Cartesian path), where
    # the backend plans per step and can tell (moveit); empty otherwise
    step_planning_s: tuple[float, ...] = field(default_factory=tuple)

    @property
    def success(self) -> bool:
        return self.status is ExecutionStatus.SUCCEEDED


StepCallback = Callable[[int, Step], None]


class ManipulationBackend(Protocol):
    name: str

    def available(self) -> tuple[bool, str]:
        """(True, "") or (False, why): e.g. "unavailable: moveit_msgs not installed"."""
        ...

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        """Run the steps in order; stop at the first failure or when ``cancelled()``."""
        ...
