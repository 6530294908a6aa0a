"""Workspace, depth evidence, age and surface checks: REJECTED with the value in the message."""

from __future__ import annotations

import math

import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.safety import (
    SafetyConfig,
    WorkspaceBox,
    check_plan,
    check_surface,
    check_target,
)
from roborefer_ros.manipulation.steps import Stage, Step, StepKind, StepPlan

CFG = SafetyConfig(WorkspaceBox((0.2, -0.5, -0.05), (0.8, 0.5, 0.6)), 0.5, 5.0, 1.0, 30.0)
NOW = 1_000_000_000_000


def rejected(match: str):
    return pytest.raises(PickPlaceError, match=match)


def test_a_good_target_passes() -> None:
    check_target("pick", (0.5, 0.0, 0.1), NOW - 100_000_000, NOW, 0.9, CFG)


@pytest.mark.parametrize("point", [(1.2, 0, 0.1), (0.5, -0.7, 0.1), (0.5, 0, -0.2), (0.1, 0, 0)])
def test_outside_the_workspace_is_rejected_naming_point_and_box(point) -> None:
    with rejected("outside the workspace") as err:
        check_target("place", point, 0, NOW, None, CFG)
    assert err.value.status is PickPlaceStatus.REJECTED
    assert f"{point[0]:.3f}" in err.value.message
    assert "x 0.2..0.8, y -0.5..0.5, z -0.05..0.6" in err.value.message
    assert err.value.message.startswith("place target")


def test_weak_depth_is_rejected_and_missing_evidence_is_not() -> None:
    with rejected(r"valid ratio 0.30 < 0.50"):
        check_target("pick", (0.5, 0, 0.1), 0, NOW, 0.3, CFG)
    check_target("pick", (0.5, 0, 0.1), 0, NOW, None, CFG)  # a ready pose


def test_old_and_future_targets_are_rejected_zero_stamp_is_not() -> None:
    with rejected(r"6.00 s old .* limit is 5 s"):
        check_target("pick", (0.5, 0, 0.1), NOW - 6_000_000_000, NOW, 0.9, CFG)
    with rejected(r"2.00 s in the future"):
        check_target("pick", (0.5, 0, 0.1), NOW + 2_000_000_000, NOW, 0.9, CFG)
    check_target("pick", (0.5, 0, 0.1), 0, NOW, 0.9, CFG)
    no_age = SafetyConfig(CFG.workspace, max_target_age_s=0.0)
    check_target("pick", (0.5, 0, 0.1), NOW - 10**12, NOW, 0.9, no_age)


def test_non_finite_target_is_rejected() -> None:
    with rejected("not finite"):
        check_target("pick", (math.nan, 0, 0), 0, NOW, None, CFG)


def test_steep_surfaces_are_rejected() -> None:
    check_surface((0, 0, 1), CFG)
    check_surface((math.sin(math.radians(25)), 0, math.cos(math.radians(25))), CFG)
    with rejected(r"tilted 40.0 deg"):
        check_surface((math.sin(math.radians(40)), 0, math.cos(math.radians(40))), CFG)
    with rejected("zero"):
        check_surface((0, 0, 0), CFG)


def test_plan_poses_leaving_the_box_are_rejected_naming_the_step() -> None:
    steps = (
        Step(StepKind.MOVE, Stage.APPROACH, "pre-grasp", Transform((0.5, 0, 0.65))),
        Step(StepKind.CLOSE, Stage.GRASP, "close"),
    )
    with rejected(r"step 0 \(pre-grasp\) would take the TCP to \(0.500, 0.000, 0.650\)"):
        check_plan(StepPlan("base_link", steps), CFG)
    check_plan(StepPlan("base_link", steps[1:]), CFG)


@pytest.mark.parametrize(
    "make",
    [
        lambda: WorkspaceBox((0, 0, 0), (1, -1, 1)),
        lambda: WorkspaceBox((0, 0, math.nan), (1, 1, 1)),
        lambda: SafetyConfig(min_depth_valid_ratio=1.5),
        lambda: SafetyConfig(max_surface_tilt_deg=120.0),
        lambda: SafetyConfig(max_target_age_s=-1.0),
    ],
)
def test_config_is_validated(make) -> None:
    with pytest.raises(ValueError):
        make()
