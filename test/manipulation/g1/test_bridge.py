"""The G1 executor on a fake robot (virtual clock): a pick-and-place plan end to end, the status
mapping of every failure, and the safety invariants over the whole command stream."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.g1.arm_collision import (
    ArmBodyModel,
    arm_spheres,
    joint_path,
    path_penetration,
    waypoint_path,
)
from roborefer_ros.manipulation.g1.arm_sdk import ARM_SLOTS, StreamerConfig
from roborefer_ros.manipulation.g1.bridge import G1Bridge, G1BridgeConfig
from roborefer_ros.manipulation.g1.hands import HandCommand, HandConfig, closure, load_hand_limits
from roborefer_ros.manipulation.g1.kinematics import (
    ArmSide,
    G1KinematicsError,
    IkOptions,
    forward_kinematics,
    load_arm_chain,
    load_waist_chain,
    solve_ik,
)
from roborefer_ros.manipulation.grasp_planner import (
    GraspConfig,
    GraspStyle,
    PlaceSurface,
    PlanRequest,
    plan_pick_place,
)
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage, Step, StepKind, StepPlan
from roborefer_ros.testing.fake_g1 import FakeG1, FakeG1Io
from test.manipulation.depth_scene import Box, top_down_view

CHAINS = {side: load_arm_chain(side) for side in ArmSide}
HANDS = {side: load_hand_limits(side) for side in ArmSide}
GRASP = GraspConfig(
    style=GraspStyle.FRONTAL,
    approach_distance_m=0.08,
    lift_distance_m=0.05,
    retreat_distance_m=0.08,
    linear_speed_scale=0.5,
)
FRONTAL = (0.7071067811865476, 0.0, 0.7071067811865475, 0.0)  # TCP z forward, x up


def _plan(y: float = 0.18) -> StepPlan:
    return plan_pick_place(
        PlanRequest(
            frame="torso_link",
            pick_point=(0.30, y, -0.05),
            place=PlaceSurface((0.30, y + 0.06 * np.sign(y), -0.10), (0.0, 0.0, 1.0)),
        ),
        GRASP,
    )


def _short_plan(y: float = 0.18) -> StepPlan:
    return StepPlan(
        "torso_link",
        (
            Step(StepKind.MOVE, Stage.APPROACH, "pre-grasp", Transform((0.25, y, -0.03), FRONTAL)),
            Step(StepKind.CLOSE, Stage.GRASP, "close"),
        ),
    )


def _bridge(robot: FakeG1 | None = None, **config: object) -> tuple[G1Bridge, FakeG1Io]:
    io = FakeG1Io(robot or FakeG1())
    return G1Bridge(G1BridgeConfig(**config), io, CHAINS, HANDS), io  # type: ignore[arg-type]


def _assert_safe_stream(io: FakeG1Io, config: StreamerConfig) -> None:
    q = np.array([c.q(ARM_SLOTS) for _, c in io.arm_log])
    assert np.max(np.abs(np.diff(q, axis=0))) <= config.v_max_rad_s * config.dt_s + 1e-9
    weights = io.weights()
    assert weights[0] > 0 and weights[-1] == 0.0
    assert np.max(np.diff(weights)) <= config.dt_s / config.ramp_in_s + 1e-12
    assert np.min(np.diff(weights)) >= -config.dt_s / config.ramp_out_s - 1e-12
    times = np.array([t for t, _ in io.arm_log])
    assert np.allclose(np.diff(times), config.dt_s, atol=1e-6)  # a steady 50 Hz


@pytest.mark.parametrize("y", [0.18, -0.18], ids=["left", "right"])
def test_pick_and_place_plan_succeeds_and_reaches_every_pose(y: float) -> None:
    bridge, io = _bridge()
    plan = _plan(y)
    side = ArmSide.for_target(y)
    reached: list[tuple[int, np.ndarray]] = []

    def on_step(index: int, _step: Step) -> None:
        if index > 0 and plan.steps[index - 1].tcp_pose is not None:
            q = io.robot.q[list(side.motor_slots)]
            reached.append((index - 1, q.copy()))

    result = bridge.execute(plan, on_step=on_step)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    assert len(result.step_durations_s) == len(plan.steps)
    for index, q in reached:  # measured joints at the end of each pose step: FK within 1 cm
        pose = plan.steps[index].tcp_pose
        assert pose is not None
        tcp = forward_kinematics(CHAINS[side], q, bridge.config.ik.tcp_offset_m)[:3, 3]
        assert np.linalg.norm(tcp - np.array(pose.translation)) < 0.01
    _assert_safe_stream(io, bridge.config.streamer)
    closes = [c for _, c in io.hand_log if c.motors[4].q != 0.0]
    assert closes and all(c.side is side for _, c in io.hand_log)
    assert io.hand_log[-1][1].motors[4].q == 0.0  # opened at the place


def _closing(command: HandCommand) -> float:
    """0: the bridge's open command (thumb spread), 1: its close command."""
    q = [m.q for m in command.motors]
    return float(np.mean(closure(HANDS[command.side], HandConfig(), q)))


def test_a_hand_that_closed_on_nothing_fails_the_grasp_after_the_lift() -> None:
    bridge, io = _bridge(FakeG1(object_in_hand=False))
    plan = _plan()
    started: list[int] = []
    result = bridge.execute(plan, on_step=lambda index, _step: started.append(index))
    assert result.status is ExecutionStatus.GRASP_FAILED, result.message
    assert "left hand holds nothing after the lift" in result.message
    assert result.failed_step is not None
    assert plan.steps[result.failed_step].stage is Stage.LIFT
    assert plan.steps[result.failed_step - 1].kind is StepKind.CLOSE
    assert max(started) == result.failed_step  # nothing after the lift: no carry, no place
    assert io.arm_log[-1][1].weight == 0.0  # the arm handed back to the locomotion controller
    # the empty hand opened again, fingers straight: the next goal does not approach with a fist
    assert all(m.q == 0.0 for m in io.hand_log[-1][1].motors)
    assert np.allclose(io.robot.hand_q[ArmSide.LEFT], 0.0, atol=0.01)


def test_a_hand_that_holds_the_object_stays_closed_whatever_stops_the_run() -> None:
    bridge, io = _bridge(FakeG1(stuck_slot=15, stuck_from_s=108.0))  # stuck while carrying
    result = bridge.execute(_plan())
    assert result.status is ExecutionStatus.EXECUTION_FAILED, result.message
    plan = _plan()
    assert result.failed_step is not None and plan.steps[result.failed_step].stage in (
        Stage.LIFT,
        Stage.PLACE,
    )
    assert _closing(io.hand_log[-1][1]) == pytest.approx(1.0)  # still closed: nothing dropped


def _lift_end_s(robot: FakeG1) -> float:
    """When the lift of ``_plan()`` ends (the grasp check's moment) on the virtual clock."""
    bridge, io = _bridge(robot, empty_grasp_closure=None)
    plan = _plan()
    started: dict[int, float] = {}
    result = bridge.execute(plan, on_step=lambda index, _step: started.setdefault(index, io.t_s))
    lift = [s.stage for s in plan.steps].index(Stage.LIFT)
    return started[lift] + result.step_durations_s[lift]


@pytest.mark.parametrize(
    ("resumes_after_s", "status", "said"),
    [
        (0.3, ExecutionStatus.GRASP_FAILED, "holds nothing after the lift"),
        (2.0, ExecutionStatus.SUCCEEDED, "grasp not verified: no fresh left HandState, the newest"),
    ],
    ids=["late", "gone"],
)
def test_a_late_hand_state_is_waited_for(
    resumes_after_s: float, status: ExecutionStatus, said: str
) -> None:
    """At the check the newest HandState is 0.6 s old: the bridge streams on for up to 0.5 s
    more for a fresh one; only when none comes is the grasp unverified."""
    check_s = _lift_end_s(FakeG1(object_in_hand=False))
    gap = (check_s - 0.6, check_s + resumes_after_s)
    bridge, _io = _bridge(FakeG1(object_in_hand=False, hand_state_gap_s=gap))
    result = bridge.execute(_plan())
    assert result.status is status, result.message
    assert said in result.message


def test_a_held_object_passes_the_grasp_check() -> None:
    bridge, _io = _bridge(FakeG1(object_in_hand=True))
    result = bridge.execute(_plan())
    assert result.status is ExecutionStatus.SUCCEEDED
    assert "not verified" not in result.message


@pytest.mark.parametrize(
    ("robot", "config", "note"),
    [
        (FakeG1(object_in_hand=False, hand_state=False), {}, "grasp not verified"),
        (FakeG1(object_in_hand=False), {"empty_grasp_closure": None}, ""),
    ],
    ids=["no_hand_state", "check_off"],
)
def test_an_unchecked_grasp_goes_on_and_says_so(
    robot: FakeG1, config: dict[str, object], note: str
) -> None:
    bridge, _io = _bridge(robot, **config)
    result = bridge.execute(_plan())
    assert result.status is ExecutionStatus.SUCCEEDED
    assert (note in result.message) if note else result.message == "done: 8 steps"


def test_wrong_frame_is_rejected_before_anything_moves() -> None:
    bridge, io = _bridge()
    result = bridge.execute(StepPlan("base_link", _short_plan().steps))
    assert result.status is ExecutionStatus.REJECTED
    assert "'base_link'" in result.message and "'torso_link'" in result.message
    assert io.arm_log == []


def test_out_of_reach_is_a_planning_failure_before_anything_moves() -> None:
    bridge, io = _bridge()
    far = StepPlan(
        "torso_link",
        (Step(StepKind.MOVE, Stage.APPROACH, "pre-grasp", Transform((0.9, 0.2, 0.0), FRONTAL)),),
    )
    result = bridge.execute(far)
    assert result.status is ExecutionStatus.PLANNING_FAILED
    assert result.failed_step == 0 and "beyond the reach" in result.message
    assert io.arm_log == []


def test_wrong_mode_machine_before_start_is_rejected() -> None:
    bridge, io = _bridge(FakeG1(mode_machine=4))
    result = bridge.execute(_short_plan())
    assert result.status is ExecutionStatus.REJECTED
    assert "mode_machine is 4, expected 5" in result.message
    assert io.arm_log == []


def test_no_state_fails_without_moving() -> None:
    bridge, io = _bridge(FakeG1(stale_from_s=0.0))
    result = bridge.execute(_short_plan())
    assert result.status is ExecutionStatus.EXECUTION_FAILED
    assert "no fresh LowState" in result.message and io.arm_log == []


@pytest.mark.parametrize(
    ("robot", "reason"),
    [
        (FakeG1(stale_from_s=101.5), "LowState is 1"),  # 100 ms + one tick
        (FakeG1(mode_machine_from_s=101.5), "mode_machine is 4"),
        (FakeG1(stuck_slot=15, stuck_from_s=101.6), "tracking error"),
    ],
    ids=["stale", "mode_machine", "tracking"],
)
def test_faults_abort_hold_and_release(robot: FakeG1, reason: str) -> None:
    bridge, io = _bridge(robot)
    result = bridge.execute(_plan())
    assert result.status is ExecutionStatus.EXECUTION_FAILED
    assert result.message.startswith("aborted: ") and reason in result.message
    _assert_safe_stream(io, bridge.config.streamer)
    assert io.arm_log[-1][1].weight == 0.0


def test_cancel_releases_the_arm() -> None:
    bridge, io = _bridge()
    result = bridge.execute(_plan(), cancelled=lambda: io.t_s > 102.0)
    assert result.status is ExecutionStatus.CANCELED
    _assert_safe_stream(io, bridge.config.streamer)


def test_unsettled_arm_fails() -> None:
    robot = FakeG1(lag_s=5.0)  # the servo barely follows, slower than the tracking check sees
    bridge, io = _bridge(
        robot,
        streamer=StreamerConfig(tracking_error_rad=3.0),
        settle_timeout_s=0.5,
    )
    result = bridge.execute(_short_plan())
    assert result.status is ExecutionStatus.EXECUTION_FAILED
    assert "did not settle within 0.5 s" in result.message
    assert io.arm_log[-1][1].weight == 0.0


def _across_plan(pick_y: float) -> StepPlan:
    """Picked right of the middle, placed on the left: across the body for the right arm."""
    return plan_pick_place(
        PlanRequest(
            frame="torso_link",
            pick_point=(0.24, pick_y, -0.02),
            place=PlaceSurface((0.26, 0.12, -0.07), (0.0, 0.0, 1.0)),
        ),
        GRASP,
    )


def _yaw(pose: Transform) -> float:
    R = pose.rotation_matrix()
    return float(np.arctan2(R[1, 2], R[0, 2]))  # the approach axis (TCP z) about the vertical


def test_a_place_across_the_body_turns_the_hand_about_the_vertical() -> None:
    plan = _across_plan(-0.10)
    unturned, _ = _bridge(place_yaw_offsets_rad=(0.0,), try_other_arm=False)
    refused = unturned.execute(plan)
    assert refused.status is ExecutionStatus.PLANNING_FAILED
    assert refused.failed_step is not None and plan.steps[refused.failed_step].stage in (
        Stage.PLACE,
        Stage.RETREAT,
    )
    assert "tried 1 arm(s) x 1 place yaw(s)" in refused.message
    bridge, io = _bridge()
    side, segments = bridge.choose_plan(plan, [ArmSide.RIGHT, ArmSide.LEFT], io.robot.q.copy())
    assert side is ArmSide.RIGHT
    place = next(s for s in segments if plan.steps[s.step].label == "place")
    tcp = forward_kinematics(CHAINS[side], place.waypoints[-1], bridge.config.ik.tcp_offset_m)
    pose = plan.steps[place.step].tcp_pose
    assert pose is not None
    # the same point, the hand turned by one of the offsets (0.7 rad: the only one that solves)
    assert np.linalg.norm(tcp[:3, 3] - np.array(pose.translation)) < 0.006
    turned = float(np.arctan2(tcp[1, 2], tcp[0, 2])) - _yaw(pose)
    assert turned == pytest.approx(0.7, abs=0.1)
    pick = next(s for s in segments if plan.steps[s.step].label == "approach")
    tcp_pick = forward_kinematics(CHAINS[side], pick.waypoints[-1], bridge.config.ik.tcp_offset_m)
    assert float(np.arctan2(tcp_pick[1, 2], tcp_pick[0, 2])) == pytest.approx(0.0, abs=0.1)
    result = bridge.execute(plan)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    _assert_safe_stream(io, bridge.config.streamer)


def test_the_other_arm_takes_a_plan_the_near_arm_cannot_finish() -> None:
    plan = _across_plan(-0.02)  # right of the middle: the right arm is asked first
    alone, _ = _bridge(place_yaw_offsets_rad=(0.0,), try_other_arm=False)
    assert alone.execute(plan).status is ExecutionStatus.PLANNING_FAILED
    bridge, io = _bridge(place_yaw_offsets_rad=(0.0,))
    result = bridge.execute(plan)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    assert {c.side for _, c in io.hand_log} == {ArmSide.LEFT}


@pytest.mark.parametrize("offsets", [(), (0.0, 4.0), (float("nan"),)])
def test_place_yaw_offsets_are_validated(offsets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="place_yaw_offsets_rad"):
        G1BridgeConfig(place_yaw_offsets_rad=offsets)


@pytest.mark.parametrize("grip_tolerance", [0.015, 0.05])
def test_the_hand_acts_only_once_the_arm_has_settled_closely(grip_tolerance: float) -> None:
    """A slow servo meets the goal tolerance (0.05 rad, ~2 cm at the hand) while still moving:
    the hand waits for the tighter grip tolerance (a release 2-3 cm high drops the object)."""
    robot = FakeG1(lag_s=0.25)
    bridge, io = _bridge(robot, grip_tolerance_rad=grip_tolerance)
    plan = _short_plan(-0.18)
    errors: list[float] = []

    def on_step(index: int, step: Step) -> None:
        if step.kind is StepKind.CLOSE:
            streamer = bridge.last_streamer
            assert streamer is not None
            side = ArmSide.RIGHT
            measured = io.robot.q[list(side.motor_slots)]
            errors.append(float(np.max(np.abs(measured - streamer.arm_desired(side)))))

    result = bridge.execute(plan, on_step=on_step)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    assert len(errors) == 1
    if grip_tolerance < 0.05:
        assert errors[0] <= grip_tolerance
    else:  # the goal tolerance alone lets the hand act while the arm is still 2-5 cm out
        assert 0.015 < errors[0] <= 0.05


# -- the scene check (a depth frame of the table) ------------------------------------------------

TABLE_Z = -0.10
PICKED = ((0.29, 0.15, TABLE_Z), (0.35, 0.21, -0.04))  # the object _plan(0.18) grasps


def _scene_bridge(boxes: list[Box]) -> tuple[G1Bridge, FakeG1Io]:
    io = FakeG1Io(FakeG1())
    view = top_down_view(boxes, TABLE_Z, eye=(0.30, 0.10, 0.50))
    return G1Bridge(G1BridgeConfig(), io, CHAINS, HANDS, scene=lambda: view), io


def test_without_a_depth_frame_the_plan_runs_unchecked() -> None:
    bridge, io = _scene_bridge([])
    bridge.scene = lambda: None
    bridge.choose_plan(_plan(), [ArmSide.LEFT], io.robot.q.copy())
    assert bridge.last_choice is not None and not bridge.last_choice.checked
    assert bridge.last_height_map is None


def test_the_grasped_object_is_no_obstacle_to_its_own_plan() -> None:
    bridge, io = _scene_bridge([PICKED])
    bridge.choose_plan(_plan(), [ArmSide.LEFT], io.robot.q.copy())
    choice = bridge.last_choice
    assert choice is not None and choice.checked and choice.intrusion_m == 0.0
    assert (choice.place_yaw_rad, choice.carry_rise_m, choice.place_shift_xy_m) == (
        0.0,
        None,
        (0.0, 0.0),
    )
    assert bridge.last_height_map is not None and bridge.last_height_map.occupied_cells == 0


def test_a_neighbour_under_the_wrist_at_the_place_turns_the_place_clear_of_it() -> None:
    plan = _plan()
    unchecked, io = _bridge()
    side, segments = unchecked.choose_plan(plan, [ArmSide.LEFT], io.robot.q.copy())
    place = next(s for s in segments if plan.steps[s.step].label == "place")
    centres, _radii = arm_spheres(CHAINS[side], place.waypoints[-1], ArmBodyModel())
    wrist = centres[len(centres) // 3 : len(centres) // 2]  # forearm to wrist
    x, y, z = wrist[int(np.argmin(wrist[:, 2]))]
    neighbour = ((x - 0.015, y - 0.015, TABLE_Z), (x + 0.015, y + 0.015, z - 0.028))
    bridge, io = _scene_bridge([PICKED, neighbour])
    assert bridge.last_choice is None
    bridge.choose_plan(plan, [ArmSide.LEFT], io.robot.q.copy())
    scene = bridge.last_height_map
    assert scene is not None
    as_asked = bridge._place_intrusion(plan, side, segments, scene)
    assert as_asked > bridge.config.obstacle_tolerance_m  # the plan as asked meets it
    choice = bridge.last_choice
    assert choice is not None and choice.checked
    assert choice.intrusion_m <= bridge.config.obstacle_tolerance_m
    assert (choice.place_yaw_rad, choice.carry_rise_m, choice.place_shift_xy_m) != (
        0.0,
        None,
        (0.0, 0.0),
    )
    result = bridge.execute(plan)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message


# -- a place's tolerance, and the first move's route ------------------------------------------


def _pick_and_place_at(place: Transform) -> StepPlan:
    return StepPlan(
        "torso_link",
        (
            Step(
                StepKind.MOVE, Stage.APPROACH, "pre-grasp", Transform((0.25, 0.18, -0.03), FRONTAL)
            ),
            Step(StepKind.CLOSE, Stage.GRASP, "close"),
            Step(StepKind.MOVE, Stage.PLACE, "place", place),
            Step(StepKind.OPEN, Stage.PLACE, "open"),
        ),
    )


def _just_beyond_the_ik(strict: IkOptions) -> Transform:
    """A frontal pose straight ahead of the left shoulder that the IK misses by 5-15 mm: the
    first x (1 mm steps) where the strict IK fails, checked against a 15 mm tolerance."""
    chain = CHAINS[ArmSide.LEFT]
    seed = FakeG1().q[list(ArmSide.LEFT.motor_slots)]
    loose = dataclasses.replace(strict, position_tolerance_m=0.015)
    for x_mm in range(380, 520):
        pose = Transform((x_mm / 1000, 0.18, 0.05), FRONTAL)
        try:
            solve_ik(chain, pose.as_matrix(), seed, strict)
        except G1KinematicsError:
            solve_ik(chain, pose.as_matrix(), seed, loose)  # raises if the step was too coarse
            return pose
    raise AssertionError("the frontal reach never ends")


def test_a_place_pose_is_reached_to_a_placements_tolerance_a_grasp_to_the_iks() -> None:
    strict = G1BridgeConfig().ik
    beyond = _just_beyond_the_ik(strict)
    exact, io = _bridge(
        try_other_arm=False,
        place_yaw_offsets_rad=(0.0,),
        place_position_tolerance_m=strict.position_tolerance_m,
    )
    refused = exact.execute(_pick_and_place_at(beyond))
    assert refused.status is ExecutionStatus.PLANNING_FAILED and refused.failed_step == 2
    bridge, io = _bridge(try_other_arm=False, place_yaw_offsets_rad=(0.0,))
    plan = _pick_and_place_at(beyond)
    side, segments = bridge.choose_plan(plan, [ArmSide.LEFT], io.robot.q.copy())
    ik = bridge.config.ik
    placed = forward_kinematics(CHAINS[side], segments[2].waypoints[-1], ik.tcp_offset_m)
    miss = float(np.linalg.norm(placed[:3, 3] - np.array(beyond.translation)))
    assert strict.position_tolerance_m < miss <= 0.015
    grasped = forward_kinematics(CHAINS[side], segments[0].waypoints[-1], ik.tcp_offset_m)
    assert np.linalg.norm(grasped[:3, 3] - np.array([0.25, 0.18, -0.03])) <= 0.005
    # a grasp keeps the IK's tolerance: the same pose as the pre-grasp is refused
    grasp_beyond = StepPlan(
        "torso_link", (Step(StepKind.MOVE, Stage.APPROACH, "pre-grasp", beyond),)
    )
    assert bridge.execute(grasp_beyond).status is ExecutionStatus.PLANNING_FAILED
    assert bridge.execute(plan).status is ExecutionStatus.SUCCEEDED


def test_the_first_move_rises_over_an_obstacle_its_joint_space_swing_meets() -> None:
    plan = _plan()
    unchecked, io = _bridge()
    q_arm = io.robot.q[list(ArmSide.LEFT.motor_slots)]
    side, segments = unchecked.choose_plan(plan, [ArmSide.LEFT], io.robot.q.copy())
    swing = joint_path(q_arm, segments[0].waypoints[-1], 0.05)
    # a box behind and beside the object, where the hand swings up from the hip
    box = ((0.15, 0.20, TABLE_Z), (0.22, 0.26, -0.06))
    clear, io = _scene_bridge([PICKED])
    clear.choose_plan(plan, [ArmSide.LEFT], io.robot.q.copy())
    assert clear.last_choice is not None and clear.last_choice.transit_rise_m is None
    bridge, io = _scene_bridge([PICKED, box])
    side, segments = bridge.choose_plan(plan, [ArmSide.LEFT], io.robot.q.copy())
    choice = bridge.last_choice
    assert choice is not None and choice.transit_rise_m in bridge.config.transit_rises_m
    scene = bridge.last_height_map
    assert scene is not None
    body = bridge._body_model()

    def met(waypoints: tuple[np.ndarray, ...]) -> float:
        states = waypoint_path(q_arm, waypoints, body.step_rad)
        return path_penetration(CHAINS[side], states, scene, body)

    assert met(segments[0].waypoints) < met((swing[-1],)) - bridge.config.obstacle_tolerance_m
    # risen above the first pose, then straight down onto it
    ik = bridge.config.ik
    first = plan.steps[0].tcp_pose
    assert first is not None
    tops = [
        forward_kinematics(CHAINS[side], q, ik.tcp_offset_m)[:3, 3] for q in segments[0].waypoints
    ]
    assert tops[0][2] == pytest.approx(first.translation[2] + choice.transit_rise_m, abs=0.005)
    assert np.linalg.norm(tops[-1] - np.array(first.translation)) <= ik.position_tolerance_m
    assert bridge.execute(plan).status is ExecutionStatus.SUCCEEDED


def test_a_plan_no_arm_reaches_with_the_waist_held_runs_with_the_waist_turned() -> None:
    plan = plan_pick_place(
        PlanRequest(
            frame="torso_link",
            pick_point=(0.30, -0.12, -0.02),
            place=PlaceSurface((0.42, 0.10, -0.07), (0.0, 0.0, 1.0)),
        ),
        GRASP,
    )
    held, _ = _bridge()
    refused = held.execute(plan)
    assert refused.status is ExecutionStatus.PLANNING_FAILED
    waist = load_waist_chain()
    io = FakeG1Io(FakeG1())
    bridge = G1Bridge(G1BridgeConfig(), io, CHAINS, HANDS, waist=waist)
    with pytest.raises(ValueError, match="waist_yaw_offsets_rad"):
        G1BridgeConfig(waist_yaw_offsets_rad=(0.0,))
    result = bridge.execute(plan)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    choice = bridge.last_choice
    assert choice is not None and choice.waist_yaw_rad is not None
    turned = choice.waist_yaw_rad
    assert turned in bridge.config.waist_yaw_offsets_rad  # from a waist at 0
    # the place, solved in the turned torso, lands on the place pose of the torso as it was
    place = next(s for s in choice.segments if plan.steps[s.step].label == "place")
    ik = bridge.config.ik
    T_turned = forward_kinematics(CHAINS[choice.side], place.waypoints[-1], ik.tcp_offset_m)
    T_now = waist.torso_turn([turned, 0.0, 0.0], np.zeros(3)) @ T_turned
    pose = plan.steps[place.step].tcp_pose
    assert pose is not None
    miss = np.linalg.norm(T_now[:3, 3] - np.array(pose.translation))
    assert miss <= bridge.config.place_position_tolerance_m
    # the waist turns first (the arms held), under the velocity cap, and is handed back at 0 weight
    yaw = np.array([c.motors[12].q for _, c in io.arm_log])
    config = bridge.config.streamer
    assert np.max(np.abs(np.diff(yaw))) <= config.v_max_rad_s * config.dt_s + 1e-9
    arrived = int(np.argmax(np.abs(yaw - turned) < 1e-9))
    arms = np.array([c.q(ARM_SLOTS) for _, c in io.arm_log[: arrived + 1]])
    np.testing.assert_allclose(arms, np.broadcast_to(arms[0], arms.shape), atol=1e-12)
    _assert_safe_stream(io, config)


DEX3 = IkOptions(tcp_offset_m=0.06, tcp_lateral_m=0.045)  # config/g1.yaml's grasp point


def _dex3_plan(y: float, width: float) -> StepPlan:
    """A box on a table at the simulated G1's grasp height (torso_link), width across the hand."""
    request = PlanRequest(
        frame="torso_link",
        pick_point=(0.28, y, 0.08),
        place=PlaceSurface((0.30, y + 0.06 * np.sign(y), 0.02), (0.0, 0.0, 1.0)),
        object_size_m=(0.06, width, 0.10),
    )
    return plan_pick_place(request, GRASP)


@pytest.mark.parametrize("y", [0.18, -0.18], ids=["left", "right"])
@pytest.mark.parametrize(
    ("width", "palm_to_centre"),
    [(0.08, 0.023 + 0.04 - 0.01), (0.04, 0.045), (0.0, 0.045)],
    ids=["wide", "narrow", "unknown"],
)
def test_a_wide_grip_moves_the_palm_off_the_objects_side(
    y: float, width: float, palm_to_centre: float
) -> None:
    """The open Dex3's palm and fingers reach 2.3 cm from the palm towards the thumb: an 8 cm
    box centred 4.5 cm away would meet their front edges on the way in. Its plan runs with the
    palm moved away until the box reaches 1 cm into that band; a narrow or unknown one keeps
    the configured grasp point."""
    bridge, _ = _bridge(ik=DEX3, palm_overlap_m=0.01)
    plan = _dex3_plan(y, width)
    assert plan.grip_width_m == width
    assert bridge.execute(plan).status is ExecutionStatus.SUCCEEDED
    assert bridge.last_choice is not None
    side = bridge.last_choice.side
    approach = next(i for i, s in enumerate(plan.steps) if s.label == "approach")
    (segment,) = [s for s in bridge.last_choice.segments if s.step == approach]
    # the palm's position, in the TCP's axes: z along the fingers, y the palm's -y
    palm = forward_kinematics(CHAINS[side], segment.waypoints[-1])
    grasp = plan.steps[approach].tcp_pose
    assert grasp is not None
    offset = np.array(grasp.translation) - palm[:3, 3]
    # the object's centre (the plan's grasp point): ahead along the fingers by the TCP offset,
    # towards the thumb (the palm's +y on the right hand, -y on the left) by the lateral one
    thumb = -palm[:3, 1] if side is ArmSide.RIGHT else palm[:3, 1]
    np.testing.assert_allclose(float(offset @ palm[:3, 2]), 0.06, atol=0.004)
    np.testing.assert_allclose(float(offset @ thumb), palm_to_centre, atol=0.004)


def test_the_palm_shift_is_off_unless_configured_and_is_validated() -> None:
    assert G1BridgeConfig().palm_overlap_m is None  # a hand of unknown shape: as configured
    bridge, _ = _bridge(ik=DEX3, palm_overlap_m=None)
    assert bridge.ik_for(dataclasses.replace(_plan(), grip_width_m=0.10)) == DEX3
    with pytest.raises(ValueError, match="palm_overlap_m"):
        G1BridgeConfig(palm_overlap_m=-0.01)
    with pytest.raises(ValueError, match="palm_face_lateral_m"):
        G1BridgeConfig(palm_face_lateral_m=math.nan)


def _near_chest_plan(y: float) -> StepPlan:
    """A frontal grasp near the chest, as the simulated G1 plans it (torso_link): from 18 cm
    behind the object, down 8 cm onto the pre-grasp first (GraspConfig.frontal_descent_m)."""
    x, z = 0.32, 0.086
    return StepPlan(
        "torso_link",
        (
            Step(
                StepKind.MOVE, Stage.APPROACH, "above", Transform((x - 0.18, y, z + 0.08), FRONTAL)
            ),
            Step(
                StepKind.LINEAR, Stage.APPROACH, "pre-grasp", Transform((x - 0.18, y, z), FRONTAL)
            ),
            Step(StepKind.LINEAR, Stage.APPROACH, "approach", Transform((x, y, z), FRONTAL)),
            Step(StepKind.CLOSE, Stage.GRASP, "close"),
        ),
    )


@pytest.mark.parametrize("y", [0.10, -0.08], ids=["left", "right"])
def test_a_lead_in_the_arm_cannot_come_down_is_lowered_before_the_other_arm(y: float) -> None:
    """Near the chest the level hand cannot rise 8 cm above the pre-grasp and come straight down
    (the IK flips or the reach ends on the way): the arm on the target's side runs the plan
    with that descent halved instead of handing it to the arm reaching across the body."""
    config = {"ik": dataclasses.replace(DEX3, position_tolerance_m=0.005), "try_other_arm": False}
    plan = _near_chest_plan(y)
    strict, _ = _bridge(lead_in_scales=(), **config)
    refused = strict.execute(plan)
    assert refused.status is ExecutionStatus.PLANNING_FAILED
    assert refused.failed_step is not None and refused.failed_step < 3  # the way down
    bridge, io = _bridge(**config)
    assert bridge.config.lead_in_scales == (0.5,)
    result = bridge.execute(plan)
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    assert bridge.last_choice is not None
    side = bridge.last_choice.side
    assert side is ArmSide.for_target(y)
    ends = {s.step: s.waypoints[-1] for s in bridge.last_choice.segments if s.waypoints}
    tcp = {i: forward_kinematics(CHAINS[side], q, 0.06, 0.045)[:3, 3] for i, q in ends.items()}
    tolerance = bridge.config.ik.position_tolerance_m
    pre_grasp, approach = (plan.steps[i].tcp_pose for i in (1, 2))
    assert pre_grasp is not None and approach is not None
    lowered = np.array(pre_grasp.translation) + np.array([0.0, 0.0, 0.04])
    assert np.linalg.norm(tcp[0] - lowered) <= tolerance  # half the descent
    assert np.linalg.norm(tcp[1] - np.array(pre_grasp.translation)) <= tolerance
    assert np.linalg.norm(tcp[2] - np.array(approach.translation)) <= tolerance
    _assert_safe_stream(io, bridge.config.streamer)


@pytest.mark.parametrize("scales", [(1.0,), (-0.1,), (math.nan,)])
def test_lead_in_scales_are_validated(scales: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="lead_in_scales"):
        G1BridgeConfig(lead_in_scales=scales)
