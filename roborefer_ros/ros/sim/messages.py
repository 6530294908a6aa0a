"""StepPlan <-> ExecuteSteps goal and ExecutionResult <-> ExecuteSteps result.

The plan travels as index-aligned arrays (kind, stage, label, TCP pose, speed scale per step);
OPEN / CLOSE steps carry an identity pose that is dropped again on the way back. Status codes
are the action's constants, mapped by name from ``ExecutionStatus`` (a test compares them).
"""

from __future__ import annotations

from typing import Any

from geometry_msgs.msg import Pose

from roborefer_ros.action import ExecuteSteps
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    Stage,
    Step,
    StepKind,
    StepPlan,
)

KIND_CODES: dict[StepKind, int] = {
    StepKind.MOVE: ExecuteSteps.Goal.KIND_MOVE,
    StepKind.LINEAR: ExecuteSteps.Goal.KIND_LINEAR,
    StepKind.OPEN: ExecuteSteps.Goal.KIND_OPEN,
    StepKind.CLOSE: ExecuteSteps.Goal.KIND_CLOSE,
}
_KIND_OF_CODE = {code: kind for kind, code in KIND_CODES.items()}
STATUS_CODES: dict[ExecutionStatus, int] = {
    status: int(getattr(ExecuteSteps.Result, status.name)) for status in ExecutionStatus
}
_STATUS_OF_CODE = {code: status for status, code in STATUS_CODES.items()}
_POSED = (StepKind.MOVE, StepKind.LINEAR)


class PlanMessageError(ValueError):
    """A goal that is not a valid plan; the message names the offending field and step."""


def _pose_msg(pose: Transform | None) -> Pose:
    msg = Pose()
    if pose is None:
        msg.orientation.w = 1.0
        return msg
    p, q = msg.position, msg.orientation
    p.x, p.y, p.z = pose.translation
    q.x, q.y, q.z, q.w = pose.quat_xyzw
    return msg


def goal_from_plan(plan: StepPlan) -> Any:
    """The ExecuteSteps goal carrying ``plan``."""
    goal = ExecuteSteps.Goal()
    goal.plan_frame = plan.frame
    goal.kinds = [KIND_CODES[s.kind] for s in plan.steps]
    goal.stages = [int(s.stage.value) for s in plan.steps]
    goal.labels = [s.label for s in plan.steps]
    goal.tcp_poses = [_pose_msg(s.tcp_pose) for s in plan.steps]
    goal.speed_scales = [float(s.speed_scale) for s in plan.steps]
    goal.object_half_height_m = float(plan.object_half_height_m)
    return goal


def plan_from_goal(goal: Any) -> StepPlan:
    """The StepPlan of an ExecuteSteps goal; PlanMessageError for arrays of different lengths,
    unknown kind or stage codes, or an invalid pose of a MOVE / LINEAR step."""
    kinds, stages, labels = list(goal.kinds), list(goal.stages), list(goal.labels)
    poses, speeds = list(goal.tcp_poses), list(goal.speed_scales)
    lengths = {len(kinds), len(stages), len(labels), len(poses), len(speeds)}
    if len(lengths) != 1:
        raise PlanMessageError(
            f"step arrays differ in length: kinds {len(kinds)}, stages {len(stages)}, labels "
            f"{len(labels)}, tcp_poses {len(poses)}, speed_scales {len(speeds)}"
        )
    steps = []
    for index, (code, stage_code, label, pose, speed) in enumerate(
        zip(kinds, stages, labels, poses, speeds, strict=True)
    ):
        kind = _KIND_OF_CODE.get(int(code))
        if kind is None:
            raise PlanMessageError(f"step {index} ({label!r}): unknown kind {int(code)}")
        try:
            stage = Stage(int(stage_code))
        except ValueError:
            raise PlanMessageError(
                f"step {index} ({label!r}): unknown stage {int(stage_code)}"
            ) from None
        tcp_pose = None
        if kind in _POSED:
            p, q = pose.position, pose.orientation
            try:
                tcp_pose = Transform((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))
            except ValueError as err:
                raise PlanMessageError(f"step {index} ({label!r}): tcp_pose: {err}") from None
        steps.append(Step(kind, stage, str(label), tcp_pose, float(speed)))
    return StepPlan(str(goal.plan_frame), tuple(steps), float(goal.object_half_height_m))


def result_msg(result: ExecutionResult) -> Any:
    """The ExecuteSteps result of an ExecutionResult."""
    msg = ExecuteSteps.Result()
    msg.status = STATUS_CODES[result.status]
    msg.message = result.message
    msg.failed_step = -1 if result.failed_step is None else int(result.failed_step)
    msg.step_durations_s = [float(d) for d in result.step_durations_s]
    return msg


def result_from_msg(msg: Any) -> ExecutionResult:
    """The ExecutionResult of an ExecuteSteps result; an unknown status code is an
    EXECUTION_FAILED that names it."""
    status = _STATUS_OF_CODE.get(int(msg.status))
    message = str(msg.message)
    if status is None:
        status = ExecutionStatus.EXECUTION_FAILED
        message = f"unknown ExecuteSteps status {int(msg.status)}: {message}"
    failed = int(msg.failed_step)
    return ExecutionResult(
        status,
        message,
        None if failed < 0 else failed,
        tuple(float(d) for d in msg.step_durations_s),
    )
