"""The simulated Unitree G1 with its Dex3 hands as a ``SimArmRig`` (FRONTAL plans).

- plans come in ``torso_link`` (the G1's plan frame; ``base_link`` is accepted too) and are
  turned into ``base_link`` with the scene's torso pose (the waist is held at zero);
- the arm is chosen per plan by the sign of the first pose's y in ``torso_link`` (y >= 0: left),
  and kept while it holds an object; IK is damped least squares on the hand's grasp site
  (between thumb and fingers; z forward along the fingers, x up, closing along y) over the 7 arm
  joints;
- CLOSE drives the Dex3 joints towards a closed posture through force-limited position servos
  and stops when they stall; the grasp counts when the thumb and a finger (or the palm) touch the
  same object; OPEN drives them to the open posture (the thumb swung back). Nothing is welded
  or teleported;
- a MOVE that ends low over the table goes over the objects (``via_heights_m``);
- the servos get gravity compensation from the model (every G1 body has ``gravcomp``), so the
  set-points only carry the velocity feed-forward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import Step, StepPlan
from roborefer_ros.sim.arms.executor import FloatArray, SimArmOptions, SimFault, StopError
from roborefer_ros.sim.arms.kinematics import ArmKinematics
from roborefer_ros.sim.camera_rig import BASE_FRAME
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robots.base import ROBOT_PREFIX
from roborefer_ros.sim.robots.g1 import PLAN_FRAME, TCP_SITE, arm_joints, hand_joints
from roborefer_ros.sim.scene import SimScene

SIDES = ("left", "right")
# Open posture of the right hand for releasing (the left mirrors it): fingers straight, the
# thumb swung back (thumb_1 > 0) so it does not hold the object against the palm.
_OPEN_RIGHT = {
    "thumb_0": 0.0,
    "thumb_1": 0.5,
    "thumb_2": 0.0,
    "middle_0": 0.0,
    "middle_1": 0.0,
    "index_0": 0.0,
    "index_1": 0.0,
}
# Closed posture of the right hand (rad; the left hand mirrors every joint but thumb_0): beyond
# where the fingers meet an object, so the force-limited servos squeeze it.
_CLOSED_RIGHT = {
    "thumb_0": 0.0,
    "thumb_1": -0.7,
    "thumb_2": -1.4,
    "middle_0": 1.3,
    "middle_1": 1.3,
    "index_0": 1.3,
    "index_1": 1.3,
}
# Arm seeds for IK (right arm; the left mirrors roll and yaw): the forearm forward at table
# height, and the URDF's zero pose.
_READY_RIGHT = np.array([-0.3, -0.1, 0.0, 0.3, 0.0, 0.0, 0.0])
# The Dex3's grip is compliant: a held object settles up to ~3 cm in the hand as it is lifted.
G1_OPTIONS = SimArmOptions(slip_tol_m=0.035)
# Via heights above the table top, highest first: 0.17 m clears the tallest object (12 cm) with
# the fingers; near the chest the level hand cannot go that high.
_VIA_HEIGHTS_M = (0.17, 0.14, 0.11)
_MIRRORED = np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0])


def closed_posture(side: str) -> dict[str, float]:
    """Joint name (without prefix) -> closed angle for the hand of ``side``."""
    return _mirrored(_CLOSED_RIGHT, side)


def open_posture(side: str) -> dict[str, float]:
    """Joint name (without prefix) -> angle of the releasing hand of ``side``: fingers straight,
    the thumb swung back, away from the object it held."""
    return _mirrored(_OPEN_RIGHT, side)


def _mirrored(right: dict[str, float], side: str) -> dict[str, float]:
    sign = 1.0 if side == "right" else -1.0
    return {
        f"{side}_hand_{j}_joint": (angle if j == "thumb_0" else sign * angle)
        for j, angle in right.items()
    }


class G1Rig:
    """The G1's two arms and Dex3 hands in a compiled scene; SimError when the scene has none."""

    name = "g1"
    via_heights_m: tuple[float, ...] = _VIA_HEIGHTS_M

    def __init__(self, model: Any, data: Any, scene: SimScene) -> None:
        self._model = model
        self._data = data
        self._scene = scene
        try:
            self.arms = {
                side: ArmKinematics(
                    model, arm_joints(side), ROBOT_PREFIX + TCP_SITE.format(side=side)
                )
                for side in SIDES
            }
        except SimError as err:
            raise SimError(f"{err} (not a G1 scene?)") from None
        self.select_arm("right")

    @property
    def side(self) -> str:
        """The arm in use: "left" or "right"."""
        return self._side

    def select_arm(self, side: str) -> None:
        model = self._model
        self._side = side
        self.kinematics = self.arms[side]
        by_joint = {
            int(model.actuator_trnid[a, 0]): a
            for a in range(int(model.nu))
            if int(model.actuator_trntype[a]) == 0
        }
        joint_ids = [int(model.joint(ROBOT_PREFIX + n).id) for n in arm_joints(side)]
        self._arm_actuators = np.array([by_joint[j] for j in joint_ids])
        self._kp = np.array(model.actuator_gainprm[self._arm_actuators, 0], dtype=np.float64)
        self._kd = -np.array(model.actuator_biasprm[self._arm_actuators, 2], dtype=np.float64)
        hand = [ROBOT_PREFIX + n for n in hand_joints(side)]
        self._hand_actuators = np.array([by_joint[int(model.joint(n).id)] for n in hand])
        self._hand_dofs = np.array([int(model.joint(n).dofadr[0]) for n in hand])
        closed, opened = closed_posture(side), open_posture(side)
        self._hand_closed = np.array([closed[n.removeprefix(ROBOT_PREFIX)] for n in hand])
        self._hand_open = np.array([opened[n.removeprefix(ROBOT_PREFIX)] for n in hand])
        thumb = model.joint(ROBOT_PREFIX + f"{side}_hand_thumb_2_joint")
        self._thumb_qpos = int(thumb.qposadr[0])
        self.finger_side: dict[int, str] = {}
        hand_bodies = set()
        for i in range(int(model.nbody)):
            name = str(model.body(i).name)
            if not name.startswith(f"{ROBOT_PREFIX}{side}_hand_"):
                continue
            hand_bodies.add(i)
            # the thumb opposes the fingers and the palm: "left" and "right" of the grasp check
            self.finger_side[i] = "left" if "_thumb_" in name else "right"
        self.gripper_bodies = frozenset(hand_bodies)

    def plan_in_base(self, plan: StepPlan, holding: bool) -> tuple[StepPlan, bool]:
        """The plan's poses in base_link; chooses the arm by the sign of the first pose's y in
        torso_link (the holding arm is kept while an object is held)."""
        T_base_from_torso = self._scene.body_pose(ROBOT_PREFIX + PLAN_FRAME)
        if plan.frame == PLAN_FRAME:
            T = T_base_from_torso
        elif plan.frame == BASE_FRAME:
            T = Transform()
        else:
            raise StopError(
                SimFault.REJECTED,
                f"plan frame {plan.frame!r} is neither {PLAN_FRAME!r} nor {BASE_FRAME!r}",
            )
        poses = [s.tcp_pose for s in plan.steps if s.tcp_pose is not None]
        switched = False
        if not holding and poses:
            y_torso = (T_base_from_torso.inverse() @ T @ poses[0]).translation[1]
            side = "left" if y_torso >= 0.0 else "right"
            if side != self._side:
                self.select_arm(side)
                switched = True
        steps = tuple(
            s if s.tcp_pose is None else _with_pose(s, T @ s.tcp_pose) for s in plan.steps
        )
        in_base = StepPlan(
            frame=BASE_FRAME, steps=steps, object_half_height_m=plan.object_half_height_m
        )
        return in_base, switched

    def servo_command(self, q_ref: FloatArray, qd_ref: FloatArray) -> None:
        """Set-points with the damping feed-forward (gravity is compensated by the model):
        ``ctrl = q_ref + kd*qd_ref/kp``."""
        self._data.ctrl[self._arm_actuators] = q_ref + self._kd * qd_ref / self._kp

    def set_hand(self, closed: bool) -> None:
        self._data.ctrl[self._hand_actuators] = self._hand_closed if closed else self._hand_open

    def hand_speed(self) -> float:
        return float(np.max(np.abs(self._data.qvel[self._hand_dofs])))

    def hand_effort(self) -> float:
        return float(np.sum(np.abs(self._data.actuator_force[self._hand_actuators])))

    def hand_angle(self) -> float:
        return float(self._data.qpos[self._thumb_qpos])

    def set_hand_position(self, position: float) -> None:
        """0.0 open .. 1.0 closed: the share of the way from the open to the closed posture."""
        share = min(max(position, 0.0), 1.0)
        target = self._hand_open + share * (self._hand_closed - self._hand_open)
        self._data.ctrl[self._hand_actuators] = target

    def seeds(self, target: Transform, q0: FloatArray) -> list[FloatArray]:
        """The current arm, the forearm-forward ready pose and the zero pose of this side."""
        del target
        ready = _READY_RIGHT if self._side == "right" else _READY_RIGHT * _MIRRORED
        return [q0, ready.copy(), np.zeros(7)]


def _with_pose(step: Step, pose: Transform) -> Step:
    return Step(step.kind, step.stage, step.label, pose, step.speed_scale)
