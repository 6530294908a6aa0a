"""One PickPlace goal through the ROS-free runner: order, statuses, messages, timings."""

from __future__ import annotations

import dataclasses
import math

import pytest

from roborefer_ros.core.object_extent import FramedExtent, Shape
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import Status
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.grasp_planner import GraspConfig
from roborefer_ros.manipulation.pick_place import (
    ObjectGeometry,
    PickPlaceRequest,
    ReferRetry,
    Target,
    run_pick_place,
)
from roborefer_ros.manipulation.safety import SafetyConfig
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage
from test.manipulation.fakes import RecordingBackend

NOW = 2_000_000_000_000
PICK = Target("base_link", Transform((0.55, 0.1, 0.1)), NOW - 10**8, 0.95)
PLACE = Target("base_link", Transform((0.42, -0.12, 0.0)), NOW - 10**8, 0.9)


class Resolver:
    def __init__(self, failures: dict[str, PickPlaceError] | None = None) -> None:
        self.calls: list[tuple[str, Mode, str]] = []
        self.failures = failures or {}

    def __call__(self, prompt: str, mode: Mode, frame: str) -> Target:
        self.calls.append((prompt, mode, frame))
        if prompt in self.failures:
            raise self.failures[prompt]
        return PICK if mode is Mode.LOCATE else PLACE


def run(request: PickPlaceRequest, backend=None, resolver=None, **kwargs):
    stages: list[tuple[Stage, str]] = []
    outcome = run_pick_place(
        request,
        resolve=resolver or Resolver(),
        backend=backend if backend is not None else RecordingBackend(),
        grasp=GraspConfig(),
        safety=SafetyConfig(),
        now_ns=lambda: NOW,
        on_stage=lambda s, label: stages.append((s, label)),
        **kwargs,
    )
    return outcome, stages


def test_pick_and_place_resolves_both_then_plans_then_moves() -> None:
    resolver, backend = Resolver(), RecordingBackend()
    outcome, stages = run(
        PickPlaceRequest("base_link", "the red box", "the free area"), backend, resolver
    )
    assert outcome.status is PickPlaceStatus.OK, outcome.message
    assert resolver.calls == [
        ("the red box", Mode.LOCATE, "base_link"),
        ("the free area", Mode.PLACE, "base_link"),
    ]
    assert [s for s, _ in stages[:3]] == [Stage.REFER_PICK, Stage.REFER_PLACE, Stage.PLAN]
    assert [label for _, label in stages[3:]] == [
        "pre-grasp", "approach", "close", "lift", "pre-place", "place", "open", "retreat",
    ]  # fmt: skip
    assert backend.executed == [label for _, label in stages[3:]]
    assert outcome.pick == PICK and outcome.place == PLACE
    assert outcome.plan is backend.plans[0] and len(outcome.stage_durations_s) == 8
    assert outcome.total_s >= sum(outcome.stage_durations_s) - 1e-6


def test_ready_poses_skip_the_model() -> None:
    resolver = Resolver()
    given = Target("base_link", Transform((0.5, 0.0, 0.05)), 0, None, "given")
    outcome, _ = run(PickPlaceRequest("base_link", pick_pose=given), resolver=resolver)
    assert outcome.success and resolver.calls == []
    assert [s.label for s in outcome.plan.steps] == ["pre-grasp", "approach", "close", "lift"]


def test_refer_failure_keeps_its_status_and_message() -> None:
    failing = Resolver(
        {
            "the cup": PickPlaceError(
                PickPlaceStatus.from_refer(Status.PARSE_ERROR), "no point in 'hm'"
            )
        }
    )
    backend = RecordingBackend()
    outcome, _ = run(PickPlaceRequest("base_link", "the cup", "the free area"), backend, failing)
    assert outcome.status is PickPlaceStatus.PARSE_ERROR
    assert outcome.message == "pick 'the cup': no point in 'hm'"
    assert backend.plans == [] and outcome.plan is None


class FlakyResolver(Resolver):
    """Fails the first ``n`` calls for the place prompt with ``status``, then answers."""

    def __init__(self, status: PickPlaceStatus, n: int) -> None:
        super().__init__()
        self.status, self.left = status, n

    def __call__(self, prompt: str, mode: Mode, frame: str) -> Target:
        if mode is Mode.PLACE and self.left > 0:
            self.calls.append((prompt, mode, frame))
            self.left -= 1
            raise PickPlaceError(self.status, "the newest frame is 1.003 s old")
        return super().__call__(prompt, mode, frame)


@pytest.mark.parametrize(
    "status", [PickPlaceStatus.STALE_FRAME, PickPlaceStatus.NO_FRAME, PickPlaceStatus.TF_ERROR]
)
def test_a_transient_refer_failure_is_asked_again(status: PickPlaceStatus) -> None:
    resolver = FlakyResolver(status, 1)
    outcome, _ = run(
        PickPlaceRequest("base_link", "the cup", "the free area"),
        resolver=resolver,
        retry=ReferRetry(retries=1, delay_s=0.01),
    )
    assert outcome.status is PickPlaceStatus.OK, outcome.message
    assert [m for _, m, _ in resolver.calls] == [Mode.LOCATE, Mode.PLACE, Mode.PLACE]


def test_retries_are_bounded_and_the_message_counts_them() -> None:
    resolver = FlakyResolver(PickPlaceStatus.STALE_FRAME, 5)
    backend = RecordingBackend()
    outcome, _ = run(
        PickPlaceRequest("base_link", "the cup", "the free area"),
        backend,
        resolver,
        retry=ReferRetry(retries=2, delay_s=0.0),
    )
    assert outcome.status is PickPlaceStatus.STALE_FRAME
    assert outcome.message == (
        "place 'the free area': the newest frame is 1.003 s old (after 3 attempts)"
    )
    assert len(resolver.calls) == 1 + 3 and backend.plans == []


def test_no_retry_for_a_lasting_failure_or_when_disabled_or_cancelled() -> None:
    parse = FlakyResolver(PickPlaceStatus.PARSE_ERROR, 1)  # the model's answer will not change
    outcome, _ = run(PickPlaceRequest("base_link", "the cup", "the free area"), resolver=parse)
    assert outcome.status is PickPlaceStatus.PARSE_ERROR and len(parse.calls) == 2
    off = FlakyResolver(PickPlaceStatus.STALE_FRAME, 1)
    outcome, _ = run(
        PickPlaceRequest("base_link", "the cup", "the free area"),
        resolver=off,
        retry=ReferRetry(retries=0),
    )
    assert outcome.status is PickPlaceStatus.STALE_FRAME and len(off.calls) == 2
    cancelled = FlakyResolver(PickPlaceStatus.STALE_FRAME, 1)
    flag = {"cancel": False}

    def resolve(prompt: str, mode: Mode, frame: str) -> Target:
        if mode is Mode.PLACE:
            flag["cancel"] = True  # the caller cancels while the place is asked
        return cancelled(prompt, mode, frame)

    outcome, _ = run(
        PickPlaceRequest("base_link", "the cup", "the free area"),
        resolver=resolve,
        retry=ReferRetry(retries=3, delay_s=5.0),
        cancelled=lambda: flag["cancel"],
    )
    assert outcome.status is PickPlaceStatus.STALE_FRAME and len(cancelled.calls) == 2
    with pytest.raises(ValueError, match="refer retry"):
        ReferRetry(retries=-1)


def test_unsafe_place_rejected_before_anything_moves() -> None:
    far = Target("base_link", Transform((1.5, 0, 0)), 0, None, "given")
    backend = RecordingBackend()
    outcome, _ = run(PickPlaceRequest("base_link", "the red box", place_pose=far), backend)
    assert outcome.status is PickPlaceStatus.REJECTED
    assert "place target (1.500, 0.000, 0.000) is outside the workspace" in outcome.message
    assert backend.plans == [] and outcome.pick == PICK


def test_steep_place_surface_rejected() -> None:
    tilted = Target(
        "base_link", Transform((0.4, 0, 0), (0.0, math.sin(0.4), 0.0, math.cos(0.4))), 0
    )
    outcome, _ = run(PickPlaceRequest("base_link", place_pose=tilted))
    assert outcome.status is PickPlaceStatus.REJECTED and "tilted" in outcome.message


def test_pose_in_another_frame_is_a_bad_request() -> None:
    other = Target("camera_link", Transform((0.5, 0, 0)), 0, None, "given")
    outcome, _ = run(PickPlaceRequest("base_link", pick_pose=other))
    assert outcome.status is PickPlaceStatus.BAD_REQUEST and "'camera_link'" in outcome.message


def test_nothing_to_do_is_a_bad_request() -> None:
    outcome, _ = run(PickPlaceRequest("base_link", "  ", ""))
    assert outcome.status is PickPlaceStatus.BAD_REQUEST and "nothing to do" in outcome.message


def test_unavailable_backend_fails_before_asking_the_model() -> None:
    resolver = Resolver()
    backend = RecordingBackend(available=(False, "unavailable: moveit_msgs not installed"))
    outcome, _ = run(PickPlaceRequest("base_link", "the red box"), backend, resolver)
    assert outcome.status is PickPlaceStatus.UNAVAILABLE
    assert (
        outcome.message
        == "manipulation backend 'recording': unavailable: moveit_msgs not installed"
    )
    assert resolver.calls == []


def test_dry_run_plans_without_the_backend() -> None:
    backend = RecordingBackend(available=(False, "no robot"))
    outcome, stages = run(PickPlaceRequest("base_link", "the red box", dry_run=True), backend)
    assert outcome.success and "dry run: 4 steps planned" in outcome.message
    assert backend.plans == [] and stages[-1][0] is Stage.PLAN


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ExecutionStatus.PLANNING_FAILED, PickPlaceStatus.PLANNING_FAILED),
        (ExecutionStatus.GRASP_FAILED, PickPlaceStatus.GRASP_FAILED),
        (ExecutionStatus.EXECUTION_FAILED, PickPlaceStatus.EXECUTION_FAILED),
    ],
)
def test_backend_failure_names_the_step(status, expected) -> None:
    backend = RecordingBackend(fail_at=2, fail_status=status)
    outcome, _ = run(PickPlaceRequest("base_link", "the red box"), backend)
    assert outcome.status is expected and outcome.failed_step == 2
    assert outcome.message == "step 2 (close): simulated failure"


def test_cancel_between_stages_and_during_execution() -> None:
    outcome, _ = run(PickPlaceRequest("base_link", "the red box"), cancelled=lambda: True)
    assert outcome.status is PickPlaceStatus.CANCELED
    assert outcome.message == "cancelled before stage REFER_PICK"
    backend = RecordingBackend()
    calls = iter([False] * 4 + [True] * 100)  # REFER_PICK, PLAN, then 2 steps run
    outcome, _ = run(
        PickPlaceRequest("base_link", "the red box"), backend, cancelled=lambda: next(calls)
    )
    assert outcome.status is PickPlaceStatus.CANCELED and backend.executed == [
        "pre-grasp",
        "approach",
    ]


def test_execution_status_mapping_is_total() -> None:
    for status in ExecutionStatus:
        assert PickPlaceStatus.from_execution(status).name in (status.name, "OK")
    assert PickPlaceStatus.from_refer(Status.NO_VALID_DEPTH) is PickPlaceStatus.NO_VALID_DEPTH


# -- the object's geometry: the goal's, else the perceived one, else none -------------------------


def _perceived(confidence: float, note: str = "") -> FramedExtent:
    """A 10 x 4 x 6 cm box standing at (0.55, 0.10) turned 30 degrees, as the refer node saw it."""
    return FramedExtent(
        base_centre=(0.55, 0.10, 0.0),
        centre=(0.55, 0.10, 0.03),
        body_centre=(0.55, 0.10, 0.03),
        up=(0.0, 0.0, 1.0),
        x_axis=(math.cos(0.5236), math.sin(0.5236), 0.0),
        yaw_rad=0.5236,
        size_m=(0.10, 0.04, 0.06),
        shape=Shape.BOX,
        confidence=confidence,
        visible_fraction=0.9,
        note=note,
    )


class _Seeing(Resolver):
    """Answers like Resolver, its LOCATE targets carrying the refer node's perceived extent."""

    def __init__(self, extent: FramedExtent | None) -> None:
        super().__init__()
        self.extent = extent

    def __call__(self, prompt: str, mode: Mode, frame: str) -> Target:
        target = super().__call__(prompt, mode, frame)
        return dataclasses.replace(target, extent=self.extent) if mode is Mode.LOCATE else target


def _resolver_seeing(extent: FramedExtent | None) -> Resolver:
    return _Seeing(extent)


def test_a_goal_without_geometry_plans_with_the_perceived_extent_and_yaw() -> None:
    outcome, _ = run(
        PickPlaceRequest("base_link", "the box", "the free area", dry_run=True),
        resolver=_resolver_seeing(_perceived(0.9)),
    )
    assert outcome.status is PickPlaceStatus.OK, outcome.message
    assert outcome.geometry == ObjectGeometry(
        "perceived", (0.10, 0.04, 0.06), 0.5236, (0.55, 0.10, 0.03)
    )
    # the fingers close across the 4 cm side: TCP y along the box's y = yaw + 90 degrees
    assert outcome.plan is not None
    grasp = outcome.plan.steps[1].tcp_pose
    finger_axis = grasp.rotate([0.0, 1.0, 0.0])
    across = (-math.sin(0.5236), math.cos(0.5236))
    assert abs(finger_axis[0] * across[0] + finger_axis[1] * across[1]) > 0.99
    # centred on the perceived body, 3 cm (the finger depth) below its 6 cm top
    assert grasp.translation[:2] == pytest.approx((0.55, 0.10), abs=1e-9)
    assert grasp.translation[2] == pytest.approx(0.06 - 0.03, abs=1e-9)


def test_the_goals_own_size_and_yaw_win_over_the_perceived_ones() -> None:
    request = PickPlaceRequest(
        "base_link", "the box", "the free area", object_size_m=(0.05, 0.05, 0.05), dry_run=True
    )
    outcome, _ = run(request, resolver=_resolver_seeing(_perceived(0.9)))
    assert outcome.geometry == ObjectGeometry("goal", (0.05, 0.05, 0.05), None)
    yawed = dataclasses.replace(request, object_size_m=(0.0, 0.0, 0.0), object_yaw_rad=0.2)
    outcome, _ = run(yawed, resolver=_resolver_seeing(_perceived(0.9)))
    assert outcome.geometry == ObjectGeometry("goal", (0.0, 0.0, 0.0), 0.2)


def test_an_uncertain_extent_is_rejected_not_grasped_blindly() -> None:
    backend = RecordingBackend()
    outcome, _ = run(
        PickPlaceRequest("base_link", "the box", "the free area"),
        backend,
        _resolver_seeing(_perceived(0.12, "the object runs out of the image (part of it unseen)")),
    )
    assert outcome.status is PickPlaceStatus.REJECTED
    assert "confidence 0.12 < min_object_confidence 0.3" in outcome.message
    assert "runs out of the image" in outcome.message
    assert backend.executed == []


def test_no_estimate_and_no_goal_geometry_falls_back_to_the_defaults() -> None:
    outcome, _ = run(PickPlaceRequest("base_link", "the box", "", dry_run=True))
    assert outcome.status is PickPlaceStatus.OK
    assert outcome.geometry == ObjectGeometry("default")
