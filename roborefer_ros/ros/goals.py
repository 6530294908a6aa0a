"""How the package's action servers end a goal and log its outcome (Refer, PickPlace and the
simulated cell's MoveIt and driver actions): one rule, so every server answers a cancel the same
way."""

from __future__ import annotations

from typing import Any


def end_goal(goal_handle: Any, *, succeeded: bool, cancelled: bool) -> None:
    """CANCELED when the run stopped for a cancel the caller asked for; else SUCCEEDED or
    ABORTED (a CANCELED status nobody asked for, e.g. the node shutting down, aborts)."""
    if cancelled and goal_handle.is_cancel_requested:
        goal_handle.canceled()
    elif succeeded:
        goal_handle.succeed()
    else:
        goal_handle.abort()


def log_outcome(logger: Any, succeeded: bool, line: str) -> None:
    """INFO for a success, WARN otherwise. One call site per severity: rclpy refuses a severity
    change at the same call site."""
    if succeeded:
        logger.info(line)
    else:
        logger.warning(line)
