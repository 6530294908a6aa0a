"""The PickPlace status enum and the typed error that carries it (ROS-free).

``PickPlaceStatus`` values equal the constants of ``action/PickPlace.action`` (a test compares
them). Values 0-15 are RefPoint's ``Status`` with the same meaning, so a refer failure reaches the
caller unchanged; 20 and above are manipulation outcomes, one per ``ExecutionStatus`` failure.
"""

from __future__ import annotations

from enum import IntEnum

from roborefer_ros.core.status import Status
from roborefer_ros.manipulation.steps import ExecutionStatus


class PickPlaceStatus(IntEnum):
    OK = 0
    NO_FRAME = 1
    STALE_FRAME = 2
    BAD_PROMPT = 3
    BACKEND_ERROR = 4
    BACKEND_TIMEOUT = 5
    PARSE_ERROR = 6
    NO_VALID_DEPTH = 7
    OUT_OF_IMAGE = 8
    TF_ERROR = 9
    UNSUPPORTED_ENCODING = 10
    BAD_FRAME = 11
    BAD_REQUEST = 12  # also: neither pick nor place; a ready pose in another frame
    BUSY = 13  # also: a goal is already running
    CANCELED = 14
    INTERNAL_ERROR = 15
    PLANNING_FAILED = 20  # no motion plan / IK solution / incomplete Cartesian path
    EXECUTION_FAILED = 21  # controller or tracking error, collision during execution
    GRASP_FAILED = 22  # the gripper closed on nothing
    REJECTED = 23  # unsafe target: workspace, depth validity, age, surface tilt
    UNAVAILABLE = 24  # no refer service or no manipulation backend here

    @classmethod
    def from_refer(cls, status: Status | int) -> PickPlaceStatus:
        """The same-named member for a RefPoint status (they share values 0-15)."""
        return cls(int(Status(int(status))))

    @classmethod
    def from_execution(cls, status: ExecutionStatus) -> PickPlaceStatus:
        return _FROM_EXECUTION[status]


_FROM_EXECUTION = {
    ExecutionStatus.SUCCEEDED: PickPlaceStatus.OK,
    ExecutionStatus.PLANNING_FAILED: PickPlaceStatus.PLANNING_FAILED,
    ExecutionStatus.EXECUTION_FAILED: PickPlaceStatus.EXECUTION_FAILED,
    ExecutionStatus.GRASP_FAILED: PickPlaceStatus.GRASP_FAILED,
    ExecutionStatus.REJECTED: PickPlaceStatus.REJECTED,
    ExecutionStatus.UNAVAILABLE: PickPlaceStatus.UNAVAILABLE,
    ExecutionStatus.CANCELED: PickPlaceStatus.CANCELED,
}


class PickPlaceError(Exception):
    """Raised by planning, safety and target resolution; the node turns it into a result.

    The message names the offending value (the target, the bound it broke) so that a caller can
    act on it.
    """

    def __init__(self, status: PickPlaceStatus, message: str) -> None:
        super().__init__(f"{status.name}: {message}")
        self.status = status
        self.message = message
