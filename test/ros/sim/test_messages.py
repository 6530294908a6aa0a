"""ExecuteSteps.action: constants equal the Python enums, and StepPlan / ExecutionResult survive a
round trip through the messages (a hypothesis property for plans)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
from roborefer_ros.ros.sim.messages import (
    KIND_CODES,
    PlanMessageError,
    goal_from_plan,
    plan_from_goal,
    result_from_msg,
    result_msg,
)
from test.test_status_interfaces import constants


def test_status_constants_equal_execution_status_names() -> None:
    declared = constants(ExecuteSteps.Result)
    assert set(declared) == {s.name for s in ExecutionStatus}
    assert len(set(declared.values())) == len(declared)


def test_kind_constants_cover_every_step_kind() -> None:
    declared = constants(ExecuteSteps.Goal, "KIND_")
    assert declared == {kind.name: code for kind, code in KIND_CODES.items()}


finite = st.floats(-2.0, 2.0, allow_nan=False)
quats = st.tuples(finite, finite, finite, finite).filter(
    lambda q: math.sqrt(sum(c * c for c in q)) > 0.1
)
poses = st.builds(Transform, st.tuples(finite, finite, finite), quats)


@st.composite
def steps(draw: st.DrawFn) -> Step:
    kind = draw(st.sampled_from(list(StepKind)))
    pose = draw(poses) if kind in (StepKind.MOVE, StepKind.LINEAR) else None
    return Step(
        kind,
        draw(st.sampled_from(list(Stage))),
        draw(st.text(max_size=12)),
        pose,
        draw(st.floats(0.01, 1.0)),
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(steps(), max_size=10),
    st.sampled_from(["base_link", "torso_link"]),
    st.floats(0.0, 0.2),
)
def test_plan_round_trip(plan_steps: list[Step], frame: str, half: float) -> None:
    plan = StepPlan(frame, tuple(plan_steps), half)
    back = plan_from_goal(goal_from_plan(plan))
    assert back.frame == plan.frame and back.object_half_height_m == half
    assert len(back.steps) == len(plan.steps)
    for a, b in zip(plan.steps, back.steps, strict=True):
        assert (a.kind, a.stage, a.label, a.speed_scale) == (
            b.kind,
            b.stage,
            b.label,
            b.speed_scale,
        )
        if a.tcp_pose is None:
            assert b.tcp_pose is None
        else:
            assert b.tcp_pose is not None
            assert b.tcp_pose.translation == pytest.approx(a.tcp_pose.translation)
            assert b.tcp_pose.quat_xyzw == pytest.approx(a.tcp_pose.quat_xyzw)


@pytest.mark.parametrize("status", list(ExecutionStatus))
def test_result_round_trip(status: ExecutionStatus) -> None:
    for failed in (None, 0, 5):
        result = ExecutionResult(status, f"why {status.value}", failed, (0.5, 1.25))
        assert result_from_msg(result_msg(result)) == result


def test_unknown_result_status_is_an_execution_failure_naming_it() -> None:
    msg = result_msg(ExecutionResult(ExecutionStatus.SUCCEEDED, "ok"))
    msg.status = 99
    back = result_from_msg(msg)
    assert back.status is ExecutionStatus.EXECUTION_FAILED
    assert "unknown ExecuteSteps status 99" in back.message


def test_bad_goals_are_refused_naming_the_field_and_step() -> None:
    plan = StepPlan(
        "base_link",
        (
            Step(StepKind.MOVE, Stage.APPROACH, "pre-grasp", Transform((0.5, 0.0, 0.3))),
            Step(StepKind.CLOSE, Stage.GRASP, "close"),
        ),
    )
    goal = goal_from_plan(plan)
    goal.labels = ["pre-grasp"]
    with pytest.raises(PlanMessageError, match="labels 1"):
        plan_from_goal(goal)
    goal = goal_from_plan(plan)
    goal.kinds = [9, 3]
    with pytest.raises(PlanMessageError, match=r"step 0 \('pre-grasp'\): unknown kind 9"):
        plan_from_goal(goal)
    goal = goal_from_plan(plan)
    goal.stages = [1, 42]
    with pytest.raises(PlanMessageError, match=r"step 1 \('close'\): unknown stage 42"):
        plan_from_goal(goal)
    goal = goal_from_plan(plan)
    goal.tcp_poses[0].orientation.w = 0.0
    with pytest.raises(PlanMessageError, match=r"step 0 \('pre-grasp'\): tcp_pose"):
        plan_from_goal(goal)
