"""A fake G1 for tests (ROS-free): joints that follow the arm_sdk commands, on a virtual clock.

``FakeG1`` is the robot: the measured arm and waist joints move towards
``w * q_cmd + (1 - w) * q_loco`` (``w`` = the arm_sdk weight in slot 29, ``q_cmd`` the command on
the slots it commands, kp > 0, else ``q_loco``; ``q_loco`` = where the locomotion controller
holds them) with a first-order lag, ``mode_machine`` 5. Faults for the safety tests: the state stops
coming (``stale_from_s``), ``mode_machine`` changes (``mode_machine_from_s``), a joint sticks
(``stuck_slot`` from ``stuck_from_s``).

The Dex3 hands' joints follow their HandCmd with the same lag. ``object_in_hand`` (default) stops
every hand joint halfway to its command, as an object between the fingers does; without it the
fingers reach their command (a hand that closed on nothing). ``hand_state`` False: no HandState
is ever published; ``hand_state_gap_s``: none within that time span.

``FakeG1Io`` implements ``G1Io`` on a virtual clock: ``sleep_until`` advances the robot, so a
multi-second plan runs in milliseconds of wall time; every command is recorded with its time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1.arm_sdk import (
    ARM_SLOTS,
    NUM_MOTORS,
    WAIST_SLOTS,
    WEIGHT_SLOT,
    ArmCommand,
    LowStateSample,
)
from roborefer_ros.manipulation.g1.hands import NUM_HAND_MOTORS, HandCommand, HandStateSample
from roborefer_ros.manipulation.g1.kinematics import ArmSide

FloatArray = npt.NDArray[np.float64]

# A relaxed standing posture of the arms (slots 15-28): hands beside the hips, elbows bent a bit.
HAND_GRIP_SHARE = 0.5  # an object between the fingers stops the hand joints this far to the command
STANDING_ARMS = (0.2, 0.25, 0.0, 0.9, 0.0, 0.0, 0.0, 0.2, -0.25, 0.0, 0.9, 0.0, 0.0, 0.0)


def standing_q() -> FloatArray:
    q = np.zeros(NUM_MOTORS)
    q[list(ARM_SLOTS)] = STANDING_ARMS
    return q


@dataclass
class FakeG1:
    q: FloatArray = field(default_factory=standing_q)
    lag_s: float = 0.03  # first-order time constant of the joint servo
    mode_machine: int = 5
    mode_machine_from_s: float = math.inf
    wrong_mode_machine: int = 4
    stale_from_s: float = math.inf
    stuck_slot: int | None = None
    stuck_from_s: float = math.inf
    q_loco: FloatArray = field(default_factory=standing_q)
    command: ArmCommand | None = None
    object_in_hand: bool = True
    hand_state: bool = True
    hand_state_gap_s: tuple[float, float] = (math.inf, math.inf)  # no HandState in [start, end)
    hand_q: dict[ArmSide, FloatArray] = field(
        default_factory=lambda: {side: np.zeros(NUM_HAND_MOTORS) for side in ArmSide}
    )
    hand_target: dict[ArmSide, FloatArray] = field(default_factory=dict)

    def receive_hand(self, command: HandCommand) -> None:
        q_cmd = np.array([m.q for m in command.motors])
        self.hand_target[command.side] = HAND_GRIP_SHARE * q_cmd if self.object_in_hand else q_cmd

    def step(self, t_s: float, dt_s: float) -> None:
        if dt_s <= 0.0:
            return
        alpha = 1.0 - math.exp(-dt_s / self.lag_s)
        for side, target in self.hand_target.items():
            self.hand_q[side] = self.hand_q[side] + alpha * (target - self.hand_q[side])
        if self.command is None:
            return
        weight = min(1.0, max(0.0, self.command.weight))
        slots = list(WAIST_SLOTS + ARM_SLOTS)
        commanded = np.array([self.command.motors[s].kp > 0.0 for s in slots])
        q_cmd = np.where(commanded, self.command.q(WAIST_SLOTS + ARM_SLOTS), self.q_loco[slots])
        target = weight * q_cmd + (1.0 - weight) * self.q_loco[slots]
        moved = self.q[slots] + alpha * (target - self.q[slots])
        if self.stuck_slot is not None and t_s >= self.stuck_from_s:
            moved[slots.index(self.stuck_slot)] = self.q[self.stuck_slot]
        self.q[slots] = moved

    def mode_at(self, t_s: float) -> int:
        return self.wrong_mode_machine if t_s >= self.mode_machine_from_s else self.mode_machine


@dataclass
class FakeG1Io:
    robot: FakeG1 = field(default_factory=FakeG1)
    t_s: float = 100.0
    physics_dt_s: float = 0.002  # the robot publishes LowState at 500 Hz
    arm_log: list[tuple[float, ArmCommand]] = field(default_factory=list)
    hand_log: list[tuple[float, HandCommand]] = field(default_factory=list)
    _state: LowStateSample | None = None
    _hands: dict[ArmSide, HandStateSample] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._publish()

    def _publish(self) -> None:
        start, end = self.robot.hand_state_gap_s
        if self.robot.hand_state and not start <= self.t_s < end:
            self._hands = {
                side: HandStateSample(side, q.copy(), self.t_s)
                for side, q in self.robot.hand_q.items()
            }
        if self.t_s >= self.robot.stale_from_s:
            return
        self._state = LowStateSample(
            q=self.robot.q.copy(),
            dq=np.zeros(NUM_MOTORS),
            mode_machine=self.robot.mode_at(self.t_s),
            received_s=self.t_s,
        )

    def latest_state(self) -> LowStateSample | None:
        return self._state

    def latest_hand(self, side: ArmSide) -> HandStateSample | None:
        return self._hands.get(side)

    def send_arm(self, command: ArmCommand) -> None:
        self.arm_log.append((self.t_s, command))
        self.robot.command = command

    def send_hand(self, command: HandCommand) -> None:
        self.hand_log.append((self.t_s, command))
        self.robot.receive_hand(command)

    def now_s(self) -> float:
        return self.t_s

    def sleep_until(self, deadline_s: float) -> None:
        while self.t_s < deadline_s - 1e-12:
            dt = min(self.physics_dt_s, deadline_s - self.t_s)
            self.robot.step(self.t_s, dt)
            self.t_s += dt
            self._publish()

    def weights(self) -> FloatArray:
        return np.array([c.motors[WEIGHT_SLOT].q for _, c in self.arm_log])
