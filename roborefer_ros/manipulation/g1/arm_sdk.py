"""The G1 ``arm_sdk`` streamer as a pure state machine (ROS-free, no clock of its own).

Every control tick (50 Hz) the caller passes the latest ``LowStateSample`` and the time; the
streamer returns the full 35-slot ``ArmCommand`` to publish on ``/arm_sdk``. Motor slot 29's ``q``
is the arm_sdk blend weight between the locomotion controller (0) and these commands (1).

Phases: IDLE -> RAMP_IN (weight 0 -> 1 over ``ramp_in_s``, holding the joints where they were) ->
TRACK (desired joints move towards the target) -> RAMP_OUT (weight 1 -> 0 over ``ramp_out_s``,
holding) -> DONE. An abort (stale state, wrong ``mode_machine``, tracking error, or the caller's
reason) goes to HOLD: the target becomes the measured position, for ``abort_hold_s``, then
RAMP_OUT.

Invariants every tick (the safety tests check them):

- each desired joint moves by at most ``v_max_rad_s * dt_s`` (``v_max_rad_s`` capped by
  ``V_MAX_CAP_RAD_S``); a move is a straight line in joint space, the slowest joint at v_max;
- targets are clamped to the joint limits minus ``limit_margin_rad``;
- the weight changes by at most ``dt_s / ramp_in_s`` (up) or ``dt_s / ramp_out_s`` (down).

Motion runs on the robot's clock: each tick advances the desired joints and the weight by the
time the robot reports since the previous tick (``LowState.tick``, at most ``dt_s``; what a
late state brings beyond that is spent by the next tick, up to one period), so when
the state stream pauses (no new LowState: a simulator that fell behind, a congested link) the
command waits for the arm instead of running ahead of it and tripping the tracking abort. A
source without a tick, or whose tick stands still while fresh states arrive, is paced by the
control period, as before.

The tracking error (max |measured - desired| over the arm joints) is checked in TRACK only: while
the weight ramps in, the locomotion controller still moves the arms and the desired joints are
the ones measured at the start.

Slots: 15-21 left arm, 22-28 right arm (``ArmSide.motor_slots``), 12-14 waist (held at their
measured angles when ``hold_waist``; the yaw, slot 12, turned by ``set_waist_yaw`` under the same
velocity cap, limit clamp and tracking check as the arms), kp/kd on the commanded slots, zeros
elsewhere. With a
``gravity`` model (``manipulation.g1.gravity``: motor angles -> hold torques) each commanded
slot's ``tau`` is the torque that holds the upper body at the desired angles, so the PD law does
not have to (kp 60 alone lets the shoulder sag ~0.1 rad and the waist more).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1.kinematics import (
    NUM_ARM_JOINTS,
    WAIST_YAW_LIMITS_RAD,
    ArmChain,
    ArmSide,
)

FloatArray = npt.NDArray[np.float64]

NUM_MOTORS = 35
WEIGHT_SLOT = 29
WAIST_SLOTS = (12, 13, 14)
WAIST_YAW_SLOT = 12
ARM_SLOTS = ArmSide.LEFT.motor_slots + ArmSide.RIGHT.motor_slots  # 15..28
V_MAX_CAP_RAD_S = 1.0  # autonomous motion: never faster, whatever the configuration says
G1_29DOF_MODE_MACHINE = 5
# (35,) motor angles -> (35,) torques that hold the upper body there (N m)
GravityModel = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class MotorCommand:
    """One ``unitree_hg/MotorCmd``: position, velocity, feed-forward torque, gains."""

    mode: int = 0
    q: float = 0.0
    dq: float = 0.0
    tau: float = 0.0
    kp: float = 0.0
    kd: float = 0.0


@dataclass(frozen=True)
class ArmCommand:
    """One ``unitree_hg/LowCmd`` for ``/arm_sdk``: 35 motor slots (slot 29's q = the weight)."""

    motors: tuple[MotorCommand, ...]
    mode_pr: int = 0
    mode_machine: int = 0

    @property
    def weight(self) -> float:
        return self.motors[WEIGHT_SLOT].q

    def q(self, slots: tuple[int, ...]) -> FloatArray:
        return np.array([self.motors[s].q for s in slots])


@dataclass(frozen=True)
class LowStateSample:
    """What the streamer needs of one ``unitree_hg/LowState``.

    ``q`` / ``dq``: (35,) motor positions and velocities; ``received_s``: when it arrived, on the
    caller's clock (the one passed to ``tick``); ``tick_ms``: the robot's own millisecond clock
    (``LowState.tick``; None where the source has none).
    """

    q: FloatArray
    dq: FloatArray
    mode_machine: int
    received_s: float
    tick_ms: int | None = None


class Phase(Enum):
    IDLE = "idle"
    RAMP_IN = "ramp_in"
    TRACK = "track"
    HOLD = "hold"  # after an abort: hold the measured position, then ramp out
    RAMP_OUT = "ramp_out"
    DONE = "done"


@dataclass(frozen=True)
class StreamerConfig:
    dt_s: float = 0.02
    v_max_rad_s: float = 0.6
    ramp_in_s: float = 1.5
    ramp_out_s: float = 1.5
    kp: float = 60.0
    kd: float = 1.5
    limit_margin_rad: float = 0.05
    state_timeout_s: float = 0.1
    expected_mode_machine: int = G1_29DOF_MODE_MACHINE
    tracking_error_rad: float = 0.25
    abort_hold_s: float = 0.3
    hold_waist: bool = True

    def __post_init__(self) -> None:
        if not (0.002 <= self.dt_s <= 0.05):
            raise ValueError(f"dt_s must be in [0.002, 0.05] (50 Hz = 0.02), got {self.dt_s!r}")
        if not (0.0 < self.v_max_rad_s <= V_MAX_CAP_RAD_S):
            raise ValueError(
                f"v_max_rad_s must be in (0, {V_MAX_CAP_RAD_S}] rad/s (autonomous motion), "
                f"got {self.v_max_rad_s!r}"
            )
        for name in ("ramp_in_s", "ramp_out_s"):
            value = getattr(self, name)
            if not (0.5 <= value <= 5.0):
                raise ValueError(f"{name} must be in [0.5, 5] s, got {value!r}")
        if not (0.0 < self.kp <= 100.0 and 0.0 <= self.kd <= 5.0):
            raise ValueError(f"kp must be in (0, 100] and kd in [0, 5], got {self.kp}, {self.kd}")
        for name in ("limit_margin_rad", "abort_hold_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        for name in ("state_timeout_s", "tracking_error_rad"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@dataclass
class _Arm:
    chain: ArmChain
    target: FloatArray  # (7,) clamped


@dataclass
class ArmStreamer:
    """Owns the desired joints of both arms and the blend weight; see the module docstring."""

    config: StreamerConfig
    chains: dict[ArmSide, ArmChain]
    gravity: GravityModel | None = None
    phase: Phase = Phase.IDLE
    weight: float = 0.0
    abort_reason: str = ""
    desired: FloatArray = field(default_factory=lambda: np.zeros(NUM_MOTORS))
    _targets: dict[ArmSide, FloatArray] = field(default_factory=dict)
    _waist_yaw_target: float | None = None  # None: the waist held where it was at start()
    _speed_scale: float = 1.0
    _hold_until_s: float = 0.0
    _last_measured: FloatArray | None = None
    _last_clock: tuple[float, int] | None = None  # (received_s, tick_ms) of the last state
    _owed_s: float = 0.0  # robot time a tick could not spend (at most dt_s), for the next one

    # -- commands from the executor ------------------------------------------------------------

    def start(self, state: LowStateSample) -> None:
        """Take over from where the joints are: desired = measured, weight ramps up from 0."""
        if self.phase not in (Phase.IDLE, Phase.DONE):
            raise RuntimeError(f"start() in phase {self.phase.value}")
        self.desired = np.asarray(state.q, dtype=np.float64).copy()
        self._last_measured = self.desired.copy()
        for side in self.chains:
            self._targets[side] = self.desired[list(side.motor_slots)].copy()
        self._waist_yaw_target = None
        self.weight = 0.0
        self.abort_reason = ""
        self._last_clock = None
        self._owed_s = 0.0
        self.phase = Phase.RAMP_IN

    def set_target(self, side: ArmSide, q: npt.ArrayLike, speed_scale: float = 1.0) -> FloatArray:
        """Move one arm towards ``q`` (7,), clamped to limits minus the margin; returns the
        clamped target. ``speed_scale`` in (0, 1] scales v_max."""
        if self.phase is not Phase.TRACK:
            raise RuntimeError(f"set_target() in phase {self.phase.value}")
        if not (0.0 < speed_scale <= 1.0):
            raise ValueError(f"speed_scale must be in (0, 1], got {speed_scale!r}")
        arr = np.asarray(q, dtype=np.float64)
        if arr.shape != (NUM_ARM_JOINTS,) or not np.all(np.isfinite(arr)):
            raise ValueError(f"arm target must be 7 finite angles, got {arr.tolist()}")
        clamped = self.chains[side].clamp(arr, self.config.limit_margin_rad)
        self._targets[side] = clamped
        self._speed_scale = speed_scale
        return clamped

    def set_waist_yaw(self, yaw_rad: float, speed_scale: float = 1.0) -> float:
        """Turn the waist (slot 12) towards ``yaw_rad``, clamped to its limits minus the margin;
        returns the clamped target. Needs ``hold_waist`` (the waist slots commanded)."""
        if self.phase is not Phase.TRACK:
            raise RuntimeError(f"set_waist_yaw() in phase {self.phase.value}")
        if not self.config.hold_waist:
            raise RuntimeError("the waist is commanded only with hold_waist")
        if not (0.0 < speed_scale <= 1.0):
            raise ValueError(f"speed_scale must be in (0, 1], got {speed_scale!r}")
        if not math.isfinite(yaw_rad):
            raise ValueError(f"waist yaw must be finite, got {yaw_rad!r}")
        margin = self.config.limit_margin_rad
        lower, upper = WAIST_YAW_LIMITS_RAD
        self._waist_yaw_target = min(max(yaw_rad, lower + margin), upper - margin)
        self._speed_scale = speed_scale
        return self._waist_yaw_target

    def waist_reached(self, tolerance_rad: float = 1e-6) -> bool:
        """The desired waist yaw is at its target (True when the waist is only held)."""
        if self._waist_yaw_target is None:
            return True
        return abs(float(self.desired[WAIST_YAW_SLOT]) - self._waist_yaw_target) <= tolerance_rad

    def release(self) -> None:
        """Hand the arms back: the weight ramps down (the joints hold where they are)."""
        if self.phase in (Phase.RAMP_IN, Phase.TRACK):
            self._hold_here()
            self.phase = Phase.RAMP_OUT

    def abort(self, reason: str, now_s: float) -> None:
        if self.phase in (Phase.IDLE, Phase.DONE) or self.abort_reason:
            return
        self.abort_reason = reason
        measured = self._last_measured if self._last_measured is not None else self.desired
        for side in self.chains:
            self._targets[side] = measured[list(side.motor_slots)].copy()
        if self._waist_yaw_target is not None:
            self._waist_yaw_target = float(measured[WAIST_YAW_SLOT])
        self._hold_until_s = now_s + self.config.abort_hold_s
        self.phase = Phase.HOLD

    # -- queries ------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.phase not in (Phase.IDLE, Phase.DONE)

    def arm_desired(self, side: ArmSide) -> FloatArray:
        return self.desired[list(side.motor_slots)].copy()

    def reached(self, side: ArmSide, tolerance_rad: float = 1e-6) -> bool:
        """The desired joints of ``side`` are at the target (the measured ones may lag)."""
        return bool(np.max(np.abs(self.arm_desired(side) - self._targets[side])) <= tolerance_rad)

    def worst_tracking(self, state: LowStateSample) -> tuple[float, str]:
        """The largest |measured - desired| over the arm joints (and the waist yaw once it is
        turned), and that joint's name."""
        worst, name = 0.0, ""
        if self._waist_yaw_target is not None:
            slot = WAIST_YAW_SLOT
            worst, name = abs(float(state.q[slot]) - float(self.desired[slot])), "waist_yaw_joint"
        for side, chain in self.chains.items():
            slots = list(side.motor_slots)
            errors = np.abs(np.asarray(state.q)[slots] - self.desired[slots])
            k = int(np.argmax(errors))
            if float(errors[k]) > worst or not name:
                worst, name = float(errors[k]), chain.joint_names[k]
        return worst, name

    # -- the tick -----------------------------------------------------------------------------

    def tick(self, state: LowStateSample | None, now_s: float) -> ArmCommand:
        """Advance one control period and return the command to publish."""
        if self.phase in (Phase.IDLE, Phase.DONE):
            return self._command()
        if state is not None:
            self._last_measured = np.asarray(state.q, dtype=np.float64).copy()
        self._check(state, now_s)
        cfg = self.config
        # After an abort the hold and the ramp-out run on the control period: a robot that
        # stopped reporting must still be handed back.
        period = self._robot_period(state) if not self.abort_reason else cfg.dt_s
        if self.phase is Phase.RAMP_IN:
            self.weight = min(1.0, self.weight + period / cfg.ramp_in_s)
            if self.weight >= 1.0:
                self.phase = Phase.TRACK
        elif self.phase is Phase.HOLD:
            if now_s >= self._hold_until_s:
                self.phase = Phase.RAMP_OUT
        elif self.phase is Phase.RAMP_OUT:
            self.weight = max(0.0, self.weight - period / cfg.ramp_out_s)
        if self.phase in (Phase.TRACK, Phase.HOLD, Phase.RAMP_OUT):
            self._step_desired(period)
        command = self._command()
        if self.phase is Phase.RAMP_OUT and self.weight <= 0.0:
            self.phase = Phase.DONE
        return command

    def _check(self, state: LowStateSample | None, now_s: float) -> None:
        if self.abort_reason:
            return
        cfg = self.config
        if state is None:
            self.abort("no LowState received", now_s)
            return
        age = now_s - state.received_s
        if age > cfg.state_timeout_s:
            self.abort(
                f"LowState is {age * 1000:.0f} ms old (limit {cfg.state_timeout_s * 1000:.0f} ms)",
                now_s,
            )
        elif state.mode_machine != cfg.expected_mode_machine:
            self.abort(
                f"LowState mode_machine is {state.mode_machine}, expected "
                f"{cfg.expected_mode_machine} (29-DoF G1 rev 1.0)",
                now_s,
            )
        elif self.phase is Phase.TRACK:
            error, joint = self.worst_tracking(state)
            if error > cfg.tracking_error_rad:
                self.abort(
                    f"tracking error {error:.3f} rad exceeds {cfg.tracking_error_rad:.3f} rad "
                    f"({joint})",
                    now_s,
                )

    def _robot_period(self, state: LowStateSample | None) -> float:
        """Seconds the robot advanced since the previous tick, in [0, dt_s] (module docstring):
        0 when no new state came; ``dt_s`` without a usable tick. What a tick cannot spend (a
        state 24 ms after the last one) is owed to the next, up to one period: a jittery
        stream keeps the robot's pace (cut at dt_s alone, 24/16 ms loses a tenth), a pause
        longer than a period is still waited out."""
        dt = self.config.dt_s
        if state is None or state.tick_ms is None:
            return dt
        last, self._last_clock = self._last_clock, (state.received_s, state.tick_ms)
        if last is None:
            return dt
        if state.received_s == last[0]:
            return 0.0
        elapsed = ((state.tick_ms - last[1]) & 0xFFFFFFFF) * 1e-3  # uint32 ms, wraps
        if elapsed <= 0.0:
            return dt
        available = elapsed + self._owed_s
        period = min(available, dt)
        self._owed_s = min(available - period, dt)
        return period

    def _step_desired(self, period: float) -> None:
        limit = self.config.v_max_rad_s * period
        if self.phase is Phase.TRACK:
            limit *= self._speed_scale
        for side, target in self._targets.items():
            slots = list(side.motor_slots)
            delta = target - self.desired[slots]
            largest = float(np.max(np.abs(delta)))
            if largest > limit:
                delta *= limit / largest
            self.desired[slots] = self.desired[slots] + delta
        if self._waist_yaw_target is not None:
            step = self._waist_yaw_target - float(self.desired[WAIST_YAW_SLOT])
            self.desired[WAIST_YAW_SLOT] += max(-limit, min(limit, step))

    def _hold_here(self) -> None:
        for side in self.chains:
            self._targets[side] = self.desired[list(side.motor_slots)].copy()
        if self._waist_yaw_target is not None:
            self._waist_yaw_target = float(self.desired[WAIST_YAW_SLOT])

    def _command(self) -> ArmCommand:
        cfg = self.config
        motors = [MotorCommand() for _ in range(NUM_MOTORS)]
        if self.phase not in (Phase.IDLE, Phase.DONE) or self.weight > 0.0:
            slots = list(ARM_SLOTS) + (list(WAIST_SLOTS) if cfg.hold_waist else [])
            tau = self.gravity(self.desired) if self.gravity is not None else np.zeros(NUM_MOTORS)
            for slot in slots:
                motors[slot] = MotorCommand(
                    q=float(self.desired[slot]), tau=float(tau[slot]), kp=cfg.kp, kd=cfg.kd
                )
        motors[WEIGHT_SLOT] = MotorCommand(q=float(self.weight))
        return ArmCommand(tuple(motors))
