"""The simulated G1's low-level interface, as its motor controllers and ``arm_sdk`` offer it
(ROS-free): what unitree_ros2 carries, as plain data, on the physics of a G1 scene.

- **State** (``LowState``): 35 motor slots (``q``, ``dq``, ``tau_est``), ``mode_machine`` 5 (the
  29-DoF G1 rev 1.0), the IMU, a millisecond ``tick``; one per physics step (2 ms: 500 Hz in
  simulated time). The Dex3 hands (``HandState``): 7 motors each.
- **arm_sdk** (``LowCmd`` on ``/arm_sdk``): slots 12-14 (waist) and 15-28 (arms) carry ``q``,
  ``dq``, ``tau``, ``kp``, ``kd``; slot 29's ``q`` is the weight ``w`` in [0, 1]. Each motor's
  torque is the blend of two PD laws, ``w * (kp (q - q_m) + kd (dq - dq_m) + tau) + (1 - w) *
  standing``, applied in physics every step (MuJoCo's actuators: the stiffness and damping terms
  are integrated implicitly) until the next command. A command whose ``crc`` is not the CRC of
  its content is dropped (the last good one stays in force) and counted.
- **Dex3** (``HandCmd``): the same PD law on the 7 joints of a hand, no weight.
- **The standing stand-in** (what the locomotion controller does on the robot): the pelvis is
  fixed and the legs are rigid (the scene has no leg joints; their slots read 0); the waist and
  arms are held at the scene's starting posture by PD laws with the model's exact gravity
  compensation (MuJoCo's ``gravcomp`` on every upper-body link, scaled by ``1 - w``: as the
  weight ramps in, holding the arms against gravity becomes the arm_sdk command's job, through
  its ``tau``). The hands hold their starting (open) posture until a first HandCmd.
  Locomotion is out of scope.

Joint torque limits are the URDF's efforts (the model's actuator force ranges: 25 N m per arm
joint, 5 at the wrist's pitch and yaw, 35 for waist roll and pitch, 1.4 per finger).

``G1LowLevel`` runs on the simulation's thread (``step`` with the MuJoCo lock held); commands
may arrive from any thread (``receive_arm_sdk``, ``receive_hand``). ``VirtualClockIo`` is the
arm bridge's ``G1Io`` over it on the simulated clock: a plan runs as fast as the physics steps,
deterministically (tests, in-process episodes).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1.arm_sdk import (
    G1_29DOF_MODE_MACHINE,
    NUM_MOTORS,
    WEIGHT_SLOT,
    ArmCommand,
    LowStateSample,
)
from roborefer_ros.manipulation.g1.crc import lowcmd_crc
from roborefer_ros.manipulation.g1.gravity import MOTOR_SLOTS
from roborefer_ros.manipulation.g1.hands import HAND_JOINTS, HandCommand, HandStateSample
from roborefer_ros.manipulation.g1.kinematics import ArmSide
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robots.base import ROBOT_PREFIX
from roborefer_ros.sim.scene import SimScene

FloatArray = npt.NDArray[np.float64]

# The standing stand-in's PD gains (N m/rad, N m s/rad), per group.
STAND_KP = {"waist": 300.0, "arm": 100.0, "hand": 1.5}
STAND_KD = {"waist": 6.0, "arm": 2.5, "hand": 0.1}
WEIGHT_LOG_S = 30.0  # how far back ``weights`` reaches


@dataclass(frozen=True)
class LowStateReading:
    """One ``unitree_hg/LowState``: (35,) motor arrays in the robot's slot order, the pelvis IMU
    (quaternion w, x, y, z; rad/s; m/s^2; roll, pitch, yaw) and the tick (ms of simulated
    time)."""

    sim_time_s: float
    tick_ms: int
    q: FloatArray
    dq: FloatArray
    tau_est: FloatArray
    mode_machine: int
    quaternion_wxyz: tuple[float, float, float, float]
    gyroscope: tuple[float, float, float]
    accelerometer: tuple[float, float, float]
    rpy: tuple[float, float, float]


@dataclass(frozen=True)
class HandReading:
    """One ``unitree_hg/HandState``: the 7 Dex3 motors of ``side`` in ``HAND_JOINTS`` order."""

    side: ArmSide
    q: FloatArray
    dq: FloatArray
    tau_est: FloatArray


@dataclass
class _Group:
    """Motors driven by one PD law each: actuator ids, dof and qpos addresses."""

    actuators: npt.NDArray[np.int64]
    dofs: npt.NDArray[np.int64]
    qpos: npt.NDArray[np.int64]
    stand_q: FloatArray
    stand_kp: FloatArray
    stand_kd: FloatArray


@dataclass
class _Pending:
    arm: ArmCommand | None = None
    hands: dict[ArmSide, HandCommand] = field(default_factory=dict)


def _group_of(joint: str) -> str:
    return "waist" if joint.startswith("waist") else "arm"


class G1LowLevel:
    """The G1's motors on a built G1 scene (see the module docstring); SimError for a scene
    without a G1."""

    def __init__(self, scene: SimScene) -> None:
        self._mj = import_mujoco()
        self.scene = scene
        self.model: Any = scene.model
        self.data: Any = scene.data
        self.period_s = float(self.model.opt.timestep)
        model = self.model
        by_joint = {
            int(model.actuator_trnid[a, 0]): a
            for a in range(int(model.nu))
            if int(model.actuator_trntype[a]) == 0
        }
        try:
            names = list(MOTOR_SLOTS)
            self._upper = self._group(names, by_joint, [_group_of(n) for n in names])
            self._slots = np.array([MOTOR_SLOTS[n] for n in names])
            self._hands = {
                side: self._group(
                    [f"{side.value}_hand_{j}_joint" for j in HAND_JOINTS],
                    by_joint,
                    ["hand"] * len(HAND_JOINTS),
                )
                for side in ArmSide
            }
            waist = int(model.body(ROBOT_PREFIX + "waist_yaw_link").id)
            self._pelvis = int(model.body(ROBOT_PREFIX + "pelvis").id)
        except (KeyError, ValueError) as err:
            raise SimError(f"not a G1 scene: {err}") from None
        # every link the waist carries: their weight is the standing controller's (1 - w)
        self._upper_bodies = np.array(
            [b for b in range(int(model.nbody)) if self._descends(b, waist)]
        )
        self._lock = threading.Lock()
        self._pending = _Pending()
        self.arm_command: ArmCommand | None = None  # the command in force
        self.weight = 0.0  # the applied blend weight
        self.crc_errors = 0
        self.arm_commands = 0
        self.hand_commands = 0
        self.weights: deque[tuple[float, float]] = deque(
            maxlen=math.ceil(WEIGHT_LOG_S / self.period_s)
        )
        self._apply_arm(None)
        for side in ArmSide:
            self._apply_hand(side, None)

    def _descends(self, body: int, ancestor: int) -> bool:
        while body > 0:
            if body == ancestor:
                return True
            body = int(self.model.body_parentid[body])
        return False

    def _group(self, names: list[str], by_joint: dict[int, int], groups: list[str]) -> _Group:
        model, data = self.model, self.data
        joints = [model.joint(ROBOT_PREFIX + n) for n in names]
        missing = [n for n, j in zip(names, joints, strict=True) if int(j.id) not in by_joint]
        if missing:
            raise SimError(f"no actuator on {missing}")
        qpos = np.array([int(j.qposadr[0]) for j in joints])
        return _Group(
            actuators=np.array([by_joint[int(j.id)] for j in joints]),
            dofs=np.array([int(j.dofadr[0]) for j in joints]),
            qpos=qpos,
            stand_q=np.array(data.qpos[qpos], dtype=np.float64),
            stand_kp=np.array([STAND_KP[g] for g in groups]),
            stand_kd=np.array([STAND_KD[g] for g in groups]),
        )

    # ---- commands (any thread) ----

    def receive_arm_sdk(
        self,
        command: ArmCommand,
        crc: int | None = None,
        reserve: tuple[int, int, int, int] = (0, 0, 0, 0),
    ) -> bool:
        """An ``/arm_sdk`` LowCmd; ``crc`` its crc field (None: not carried, in process) and
        ``reserve`` its reserve words. False (dropped, counted) when the crc does not match."""
        if len(command.motors) != NUM_MOTORS:
            raise SimError(f"a LowCmd has {NUM_MOTORS} motors, got {len(command.motors)}")
        if crc is not None and crc != lowcmd_crc(command, reserve):
            with self._lock:
                self.crc_errors += 1
            return False
        with self._lock:
            self._pending.arm = command
            self.arm_commands += 1
        return True

    def receive_hand(self, command: HandCommand) -> None:
        if len(command.motors) != len(HAND_JOINTS):
            raise SimError(f"a Dex3 HandCmd has 7 motors, got {len(command.motors)}")
        with self._lock:
            self._pending.hands[command.side] = command
            self.hand_commands += 1

    # ---- the physics (the simulation's thread) ----

    @property
    def sim_time_s(self) -> float:
        return float(self.data.time)

    def step(self, count: int = 1) -> None:
        """Apply the newest commands, then advance ``count`` physics steps (2 ms each)."""
        with self._lock:
            pending, self._pending = self._pending, _Pending()
        if pending.arm is not None:
            self._apply_arm(pending.arm)
        for side, hand in pending.hands.items():
            self._apply_hand(side, hand)
        for _ in range(count):
            self._mj.mj_step(self.model, self.data)
            self.weights.append((float(self.data.time), self.weight))

    def _apply_arm(self, command: ArmCommand | None) -> None:
        group = self._upper
        w = 0.0 if command is None else min(1.0, max(0.0, float(command.motors[WEIGHT_SLOT].q)))
        if command is None:
            sdk = np.zeros((len(self._slots), 5))
        else:
            sdk = np.array(
                [[m.q, m.dq, m.tau, m.kp, m.kd] for m in (command.motors[s] for s in self._slots)]
            )
        self.arm_command = command
        self.weight = w
        self._set(group, w, sdk)
        self.model.body_gravcomp[self._upper_bodies] = 1.0 - w

    def _apply_hand(self, side: ArmSide, command: HandCommand | None) -> None:
        if command is None:
            self._set(self._hands[side], 0.0, np.zeros((len(HAND_JOINTS), 5)))
        else:
            sdk = np.array([[m.q, m.dq, m.tau, m.kp, m.kd] for m in command.motors])
            self._set(self._hands[side], 1.0, sdk)

    def _set(self, group: _Group, w: float, sdk: FloatArray) -> None:
        """The blended PD law ``w * command + (1 - w) * standing`` as MuJoCo actuators
        (``force = kp * ctrl - kp * q - kd * dq``) plus the feed-forward as an applied force."""
        q, dq, tau, kp, kd = (sdk[:, i] for i in range(5))
        kp_all = w * kp + (1.0 - w) * group.stand_kp
        kd_all = w * kd + (1.0 - w) * group.stand_kd
        target = np.where(
            kp_all > 1e-9,
            (w * kp * q + (1.0 - w) * group.stand_kp * group.stand_q) / np.maximum(kp_all, 1e-9),
            q,
        )
        model, data = self.model, self.data
        model.actuator_gainprm[group.actuators, 0] = kp_all
        model.actuator_biasprm[group.actuators, 1] = -kp_all
        model.actuator_biasprm[group.actuators, 2] = -kd_all
        data.ctrl[group.actuators] = target
        data.qfrc_applied[group.dofs] = w * (kd * dq + tau)

    # ---- state ----

    def _tau(self, dofs: npt.NDArray[np.int64]) -> FloatArray:
        data = self.data
        return np.asarray(
            data.qfrc_actuator[dofs] + data.qfrc_applied[dofs] + data.qfrc_gravcomp[dofs],
            dtype=np.float64,
        )

    def low_state(self) -> LowStateReading:
        """The LowState now (legs and slots 29-34 read 0: rigid legs, no motors there)."""
        data, group = self.data, self._upper
        q, dq, tau = np.zeros(NUM_MOTORS), np.zeros(NUM_MOTORS), np.zeros(NUM_MOTORS)
        q[self._slots] = data.qpos[group.qpos]
        dq[self._slots] = data.qvel[group.dofs]
        tau[self._slots] = self._tau(group.dofs)
        w, x, y, z = (float(v) for v in data.xquat[self._pelvis])
        roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
        pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
        yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        gravity = -float(self.model.opt.gravity[2])
        time_s = float(data.time)
        return LowStateReading(
            sim_time_s=time_s,
            tick_ms=round(time_s * 1000.0) & 0xFFFFFFFF,
            q=q,
            dq=dq,
            tau_est=tau,
            mode_machine=G1_29DOF_MODE_MACHINE,
            quaternion_wxyz=(w, x, y, z),
            gyroscope=(0.0, 0.0, 0.0),  # the pelvis is fixed
            accelerometer=(0.0, 0.0, gravity),
            rpy=(roll, pitch, yaw),
        )

    def hand_state(self, side: ArmSide) -> HandReading:
        group, data = self._hands[side], self.data
        return HandReading(
            side,
            np.array(data.qpos[group.qpos], dtype=np.float64),
            np.array(data.qvel[group.dofs], dtype=np.float64),
            self._tau(group.dofs),
        )

    def standing_q(self) -> FloatArray:
        """(35,) the posture the standing stand-in holds (waist and arms; 0 elsewhere)."""
        q = np.zeros(NUM_MOTORS)
        q[self._slots] = self._upper.stand_q
        return q


@dataclass
class VirtualClockIo:
    """The arm bridge's ``G1Io`` on the simulated clock: ``sleep_until`` steps the physics,
    ``latest_state`` is the LowState of the last step (received when it was stepped). Faults for
    the safety tests: the state stops arriving from ``stale_from_s`` (simulated time)."""

    robot: G1LowLevel
    stale_from_s: float = math.inf
    arm_log: list[tuple[float, ArmCommand]] = field(default_factory=list)
    hand_log: list[tuple[float, HandCommand]] = field(default_factory=list)
    _state: LowStateSample | None = None

    def __post_init__(self) -> None:
        self._update()

    def _update(self) -> None:
        reading = self.robot.low_state()
        if reading.sim_time_s >= self.stale_from_s:
            return
        self._state = LowStateSample(
            q=reading.q,
            dq=reading.dq,
            mode_machine=reading.mode_machine,
            received_s=reading.sim_time_s,
        )

    def latest_state(self) -> LowStateSample | None:
        return self._state

    def latest_hand(self, side: ArmSide) -> HandStateSample | None:
        """The hand's joints now (the simulator publishes them with every step)."""
        if self._state is None:
            return None
        return HandStateSample(side, self.robot.hand_state(side).q, self._state.received_s)

    def send_arm(self, command: ArmCommand) -> None:
        self.arm_log.append((self.now_s(), command))
        self.robot.receive_arm_sdk(command)

    def send_hand(self, command: HandCommand) -> None:
        self.hand_log.append((self.now_s(), command))
        self.robot.receive_hand(command)

    def now_s(self) -> float:
        return self.robot.sim_time_s

    def sleep_until(self, deadline_s: float) -> None:
        while self.robot.sim_time_s < deadline_s - 1e-9:
            before = self.robot.sim_time_s
            self.robot.step()
            if self.robot.sim_time_s <= before:  # MuJoCo reset an unstable simulation
                raise SimError(f"the physics went unstable at t = {before:.3f} s and was reset")
            self._update()
