"""Safety of the arm_sdk streamer: velocity per tick, limits, the weight ramps, the aborts."""

from __future__ import annotations

import numpy as np
import pytest

from roborefer_ros.manipulation.g1.arm_sdk import (
    ARM_SLOTS,
    NUM_MOTORS,
    V_MAX_CAP_RAD_S,
    WAIST_SLOTS,
    WAIST_YAW_SLOT,
    WEIGHT_SLOT,
    ArmCommand,
    ArmStreamer,
    LowStateSample,
    Phase,
    StreamerConfig,
)
from roborefer_ros.manipulation.g1.kinematics import ArmSide, load_arm_chain

CHAINS = {side: load_arm_chain(side) for side in ArmSide}
LEFT = list(ArmSide.LEFT.motor_slots)
CFG = StreamerConfig(v_max_rad_s=0.8, ramp_in_s=1.0, ramp_out_s=2.0)


def _state(q: np.ndarray, t: float, mode_machine: int = 5) -> LowStateSample:
    return LowStateSample(q.copy(), np.zeros(NUM_MOTORS), mode_machine, t)


class Loop:
    """Ticks a streamer against a robot whose joints follow the commands exactly."""

    def __init__(self, config: StreamerConfig = CFG) -> None:
        self.streamer = ArmStreamer(config, CHAINS)
        self.q = np.zeros(NUM_MOTORS)
        self.q[LEFT] = [0.2, 0.25, 0.0, 0.9, 0.0, 0.0, 0.0]
        self.t = 10.0
        self.commands: list[ArmCommand] = []
        self.streamer.start(_state(self.q, self.t))

    def tick(self, follow: bool = True, state_age_s: float = 0.0, mode_machine: int = 5) -> None:
        command = self.streamer.tick(_state(self.q, self.t - state_age_s, mode_machine), self.t)
        self.commands.append(command)
        if follow and command.weight > 0:
            self.q[list(ARM_SLOTS)] = command.q(ARM_SLOTS)
        self.t += self.streamer.config.dt_s

    def until(self, phase: Phase, limit: int = 2000, **kwargs: object) -> None:
        for _ in range(limit):
            if self.streamer.phase is phase:
                return
            self.tick(**kwargs)  # type: ignore[arg-type]
        raise AssertionError(f"never reached {phase}, stuck in {self.streamer.phase}")


def _max_step(commands: list[ArmCommand]) -> float:
    q = np.array([c.q(ARM_SLOTS) for c in commands])
    return float(np.max(np.abs(np.diff(q, axis=0)))) if len(q) > 1 else 0.0


def test_weight_ramps_up_over_ramp_in_s_holding_the_joints() -> None:
    loop = Loop()
    start = loop.q.copy()
    loop.until(Phase.TRACK)
    weights = np.array([c.weight for c in loop.commands])
    assert weights[0] == pytest.approx(CFG.dt_s / CFG.ramp_in_s)
    assert weights[-1] == 1.0
    assert np.all(np.diff(weights) > 0)
    assert np.max(np.diff(weights)) <= CFG.dt_s / CFG.ramp_in_s + 1e-12
    assert len(weights) == pytest.approx(CFG.ramp_in_s / CFG.dt_s, abs=1)
    for command in loop.commands:  # no motion while blending in
        np.testing.assert_allclose(command.q(ARM_SLOTS), start[list(ARM_SLOTS)])


def test_commands_carry_the_gains_and_the_weight_slot() -> None:
    loop = Loop()
    loop.tick()
    command = loop.commands[-1]
    assert len(command.motors) == NUM_MOTORS == 35
    for slot in (*ARM_SLOTS, *WAIST_SLOTS):
        assert (command.motors[slot].kp, command.motors[slot].kd) == (60.0, 1.5)
    for slot in range(12):  # legs: untouched
        assert command.motors[slot].kp == 0.0 and command.motors[slot].q == 0.0
    assert command.motors[WEIGHT_SLOT].kp == 0.0
    assert command.weight == command.motors[29].q


def test_velocity_per_tick_never_exceeds_v_max_dt() -> None:
    loop = Loop()
    loop.until(Phase.TRACK)
    target = np.array([-1.0, 0.8, 0.5, 0.2, 0.6, -0.7, 0.4])
    loop.streamer.set_target(ArmSide.LEFT, target)
    while not loop.streamer.reached(ArmSide.LEFT):
        loop.tick()
    assert _max_step(loop.commands) <= CFG.v_max_rad_s * CFG.dt_s + 1e-12
    # straight line in joint space: the slowest joint at v_max, all arriving together
    np.testing.assert_allclose(loop.commands[-1].q(tuple(LEFT)), target)
    ticks_moving = len(loop.commands) - round(CFG.ramp_in_s / CFG.dt_s)
    assert ticks_moving == pytest.approx(1.2 / (CFG.v_max_rad_s * CFG.dt_s), abs=2)


def test_speed_scale_slows_the_motion() -> None:
    loop = Loop()
    loop.until(Phase.TRACK)
    before = len(loop.commands)
    loop.streamer.set_target(ArmSide.LEFT, [0.2, 0.25, 0.0, 0.5, 0.0, 0.0, 0.0], speed_scale=0.25)
    while not loop.streamer.reached(ArmSide.LEFT):
        loop.tick()
    assert _max_step(loop.commands[before - 1 :]) <= 0.25 * CFG.v_max_rad_s * CFG.dt_s + 1e-12


def test_targets_are_clamped_to_limits_minus_margin() -> None:
    loop = Loop()
    loop.until(Phase.TRACK)
    chain = CHAINS[ArmSide.LEFT]
    clamped = loop.streamer.set_target(ArmSide.LEFT, chain.upper + 1.0)
    np.testing.assert_allclose(clamped, chain.upper - CFG.limit_margin_rad)
    for _ in range(400):
        loop.tick()
    q = np.array([c.q(tuple(LEFT)) for c in loop.commands])
    assert np.all(q <= chain.upper - CFG.limit_margin_rad + 1e-12)


def test_v_max_is_capped() -> None:
    assert V_MAX_CAP_RAD_S <= 1.0
    with pytest.raises(ValueError, match=r"v_max_rad_s must be in \(0, 1.0\]"):
        StreamerConfig(v_max_rad_s=20.0)  # teleop-grade: refused
    with pytest.raises(ValueError, match="ramp_in_s"):
        StreamerConfig(ramp_in_s=0.1)


def test_release_ramps_the_weight_down_holding_the_joints() -> None:
    loop = Loop()
    loop.until(Phase.TRACK)
    loop.streamer.set_target(ArmSide.LEFT, [0.0, 0.3, 0.0, 1.0, 0.0, 0.0, 0.0])
    for _ in range(10):
        loop.tick()
    held = loop.commands[-1].q(ARM_SLOTS)
    loop.streamer.release()
    n = len(loop.commands)
    loop.until(Phase.DONE)
    weights = np.array([c.weight for c in loop.commands[n:]])
    assert weights[-1] == 0.0
    assert np.all(np.diff(weights) < 0)
    assert np.max(-np.diff(weights)) <= CFG.dt_s / CFG.ramp_out_s + 1e-12
    assert len(weights) == pytest.approx(CFG.ramp_out_s / CFG.dt_s, abs=1)
    for command in loop.commands[n:]:
        np.testing.assert_allclose(command.q(ARM_SLOTS), held)
    assert loop.streamer.tick(None, loop.t).weight == 0.0  # done: stays released


def _abort_and_ramp_down(loop: Loop, reason: str, **kwargs: object) -> None:
    measured = loop.q.copy()
    loop.tick(**kwargs)  # type: ignore[arg-type]
    assert loop.streamer.phase is Phase.HOLD
    assert reason in loop.streamer.abort_reason
    n = len(loop.commands)
    loop.until(Phase.DONE, **kwargs)
    weights = np.array([c.weight for c in loop.commands[n - 1 :]])
    assert weights[-1] == 0.0 and np.all(np.diff(weights) <= 0)
    assert np.max(-np.diff(weights)) <= CFG.dt_s / CFG.ramp_out_s + 1e-12
    # held at the measured position (reached within v_max, never moving away from it)
    final = loop.commands[-1].q(ARM_SLOTS)
    np.testing.assert_allclose(final, measured[list(ARM_SLOTS)], atol=1e-9)
    assert _max_step(loop.commands) <= CFG.v_max_rad_s * CFG.dt_s + 1e-12


def test_abort_on_stale_state() -> None:
    loop = Loop()
    loop.until(Phase.TRACK)
    loop.streamer.set_target(ArmSide.LEFT, [0.0, 0.3, 0.0, 1.0, 0.0, 0.0, 0.0])
    for _ in range(5):
        loop.tick(state_age_s=0.09)  # under 100 ms: fine
    assert not loop.streamer.abort_reason
    _abort_and_ramp_down(loop, "LowState is 120 ms old (limit 100 ms)", state_age_s=0.12)


def test_abort_when_no_state_at_all() -> None:
    loop = Loop()
    loop.streamer.tick(None, loop.t)
    assert loop.streamer.phase is Phase.HOLD
    assert loop.streamer.abort_reason == "no LowState received"


def test_abort_on_wrong_mode_machine() -> None:
    loop = Loop()
    for _ in range(10):
        loop.tick()  # during the ramp-in too
    _abort_and_ramp_down(loop, "mode_machine is 4, expected 5", mode_machine=4)


def test_expected_mode_machine_is_configurable() -> None:
    loop = Loop(StreamerConfig(expected_mode_machine=6))
    loop.tick(mode_machine=6)
    assert not loop.streamer.abort_reason


def test_abort_on_tracking_error() -> None:
    loop = Loop()
    loop.until(Phase.TRACK)
    loop.streamer.set_target(ArmSide.LEFT, [-1.0, 0.3, 0.0, 1.0, 0.0, 0.0, 0.0])
    stuck = loop.q.copy()
    for _ in range(200):
        loop.tick(follow=False)  # the arm does not move
        if loop.streamer.abort_reason:
            break
    assert "tracking error" in loop.streamer.abort_reason
    assert loop.streamer.abort_reason.endswith("(left_shoulder_pitch_joint)")  # the one that lags
    error = np.max(np.abs(loop.commands[-2].q(ARM_SLOTS) - stuck[list(ARM_SLOTS)]))
    assert error <= CFG.tracking_error_rad + CFG.v_max_rad_s * CFG.dt_s
    loop.until(Phase.DONE, follow=False)
    np.testing.assert_allclose(loop.commands[-1].q(ARM_SLOTS), stuck[list(ARM_SLOTS)], atol=1e-9)


def test_set_target_only_while_tracking() -> None:
    loop = Loop()
    with pytest.raises(RuntimeError, match="ramp_in"):
        loop.streamer.set_target(ArmSide.LEFT, np.zeros(7))
    loop.until(Phase.TRACK)
    with pytest.raises(ValueError, match="7 finite angles"):
        loop.streamer.set_target(ArmSide.LEFT, [np.nan] * 7)


# -- motion on the robot's clock (LowState.tick) ---------------------------------------------------


class TickedLoop(Loop):
    """A robot that stamps its states with a millisecond tick and may stop reporting."""

    def __init__(self) -> None:
        super().__init__()
        self.tick_ms = 4_294_967_200  # 96 ms before the uint32 wrap: it must not matter
        self.received = self.t

    def tick(self, follow: bool = True, state_age_s: float = 0.0, mode_machine: int = 5) -> None:
        self.step(report=True, follow=follow)

    def step(self, report: bool = True, follow: bool = True, robot_ms: int = 20) -> None:
        """One control tick; with ``report`` the robot advanced ``robot_ms`` and sent a state."""
        if report:
            self.tick_ms = (self.tick_ms + robot_ms) & 0xFFFFFFFF
            self.received = self.t
        state = LowStateSample(self.q.copy(), np.zeros(NUM_MOTORS), 5, self.received, self.tick_ms)
        command = self.streamer.tick(state, self.t)
        self.commands.append(command)
        if follow and report and command.weight > 0:
            self.q[list(ARM_SLOTS)] = command.q(ARM_SLOTS)
        self.t += self.streamer.config.dt_s


TARGET = [-0.6, 0.25, 0.0, 0.9, 0.0, 0.0, 0.0]


def _left(command: ArmCommand) -> np.ndarray:
    return np.asarray(command.q(tuple(LEFT)))


def test_a_paused_state_stream_pauses_the_motion_instead_of_running_ahead() -> None:
    ticked, walled = TickedLoop(), Loop()
    for loop in (ticked, walled):
        loop.until(Phase.TRACK)
        loop.streamer.set_target(ArmSide.LEFT, TARGET)
        for _ in range(5):
            loop.tick()
    paused_at = _left(ticked.commands[-1])
    for _ in range(4):  # 80 ms without a LowState: under the 100 ms stale bound
        ticked.step(report=False)
        walled.tick(follow=False)
        np.testing.assert_allclose(_left(ticked.commands[-1]), paused_at)
    # paced by the wall clock, the command ran 4 steps ahead of an arm that did not move
    ahead = np.max(np.abs(_left(walled.commands[-1]) - walled.q[LEFT]))
    assert ahead == pytest.approx(4 * CFG.v_max_rad_s * CFG.dt_s)
    assert ticked.streamer.worst_tracking(_state(ticked.q, ticked.t))[0] < 1e-9
    ticks = 0
    while not ticked.streamer.reached(ArmSide.LEFT):
        ticked.tick()
        ticks += 1
    assert ticked.streamer.phase is Phase.TRACK and not ticked.streamer.abort_reason
    np.testing.assert_allclose(_left(ticked.commands[-1]), TARGET)
    assert _max_step(ticked.commands) <= CFG.v_max_rad_s * CFG.dt_s + 1e-12


def test_the_weight_ramp_waits_for_the_robot_too() -> None:
    loop = TickedLoop()
    for _ in range(10):
        loop.tick()
    weight = loop.commands[-1].weight
    for _ in range(3):
        loop.step(report=False)
        assert loop.commands[-1].weight == weight
    loop.tick()
    assert loop.commands[-1].weight == pytest.approx(weight + CFG.dt_s / CFG.ramp_in_s)


def test_a_fast_robot_clock_never_moves_the_command_faster_than_v_max() -> None:
    loop = TickedLoop()
    loop.until(Phase.TRACK)
    loop.streamer.set_target(ArmSide.LEFT, TARGET)
    for _ in range(20):
        loop.step(robot_ms=100)  # states 100 ms apart: a late control tick
    assert _max_step(loop.commands) == pytest.approx(CFG.v_max_rad_s * CFG.dt_s)


def test_a_jittery_robot_clock_keeps_the_robots_pace() -> None:
    """States 24 and 16 ms apart (20 on average, as DDS delivers a 500 Hz LowState to a 50 Hz
    loop): the command moves as far as 20 ms ticks would, never more than v_max * dt a tick."""
    loop = TickedLoop()
    loop.until(Phase.TRACK)
    loop.streamer.set_target(ArmSide.LEFT, TARGET)
    before = _left(loop.commands[-1])
    for k in range(20):
        loop.step(robot_ms=24 if k % 2 == 0 else 16)
    moved = np.max(np.abs(_left(loop.commands[-1]) - before))
    assert moved == pytest.approx(20 * CFG.v_max_rad_s * CFG.dt_s)  # cut at dt alone: 18
    assert _max_step(loop.commands) <= CFG.v_max_rad_s * CFG.dt_s + 1e-12


def test_a_tick_that_stands_still_is_no_clock() -> None:
    """Fresh states whose tick never moves: paced by the control period, as without a tick."""
    loop = TickedLoop()
    loop.until(Phase.TRACK)
    loop.streamer.set_target(ArmSide.LEFT, TARGET)
    before = _left(loop.commands[-1])
    for _ in range(5):
        loop.step(robot_ms=0)
    moved = np.max(np.abs(_left(loop.commands[-1]) - before))
    assert moved == pytest.approx(5 * CFG.v_max_rad_s * CFG.dt_s)


def test_a_robot_that_stops_reporting_is_still_handed_back() -> None:
    loop = TickedLoop()
    loop.until(Phase.TRACK)
    for _ in range(200):  # no state ever again: the stale abort, the hold, the ramp-out
        loop.step(report=False)
        if loop.streamer.phase is Phase.DONE:
            break
    assert loop.streamer.phase is Phase.DONE
    assert "LowState is" in loop.streamer.abort_reason
    assert loop.commands[-1].weight == 0.0


def test_the_waist_yaw_turns_under_the_velocity_cap_clamped_and_tracked() -> None:
    loop = Loop()
    loop.until(Phase.TRACK)
    with pytest.raises(RuntimeError, match="hold_waist"):
        no_waist = Loop(StreamerConfig(hold_waist=False))
        no_waist.until(Phase.TRACK)
        no_waist.streamer.set_waist_yaw(0.3)
    before = len(loop.commands)
    assert loop.streamer.set_waist_yaw(0.4) == 0.4
    while not loop.streamer.waist_reached():
        loop.tick()
        loop.q[WAIST_YAW_SLOT] = loop.commands[-1].motors[WAIST_YAW_SLOT].q  # it follows
    yaw = np.array([c.motors[WAIST_YAW_SLOT].q for c in loop.commands[before - 1 :]])
    assert yaw[-1] == pytest.approx(0.4)
    assert np.max(np.abs(np.diff(yaw))) <= CFG.v_max_rad_s * CFG.dt_s + 1e-12
    assert loop.commands[-1].motors[WAIST_YAW_SLOT].kp == CFG.kp
    assert loop.streamer.set_waist_yaw(10.0) == pytest.approx(2.618 - CFG.limit_margin_rad)
    # a waist that stops following trips the tracking abort, and is held where it stopped
    for _ in range(200):
        loop.tick()
        if loop.streamer.abort_reason:
            break
    assert loop.streamer.abort_reason.endswith("(waist_yaw_joint)")
    loop.until(Phase.DONE)
    assert loop.commands[-1].motors[WAIST_YAW_SLOT].q == pytest.approx(0.4, abs=1e-9)


def test_set_waist_yaw_only_while_tracking() -> None:
    loop = Loop()
    with pytest.raises(RuntimeError, match="set_waist_yaw"):
        loop.streamer.set_waist_yaw(0.2)
