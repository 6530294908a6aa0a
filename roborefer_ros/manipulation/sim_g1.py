"""Execute a FRONTAL StepPlan on the simulated Unitree G1 with its Dex3 hands (ROS-free).

The same executor as the UR5e's (``SimUR5eBackend``: IK-solved joint segments tracked by
position servos, guarded place, contact and slip checks, the same ``SimFault`` mapping onto
ExecutionStatus), with the G1's parts swapped in:

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
- a MOVE that ends low over the table goes over the objects: up to a via height, across, and
  straight down (see ``_move``);
- the servos get gravity compensation from the model (every G1 body has ``gravcomp``), so the
  set-points only carry the velocity feed-forward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.sim_kinematics import ArmKinematics
from roborefer_ros.manipulation.sim_ur5e import (
    FloatArray,
    SimFault,
    SimUR5eBackend,
    SimUR5eOptions,
    _StopError,
)
from roborefer_ros.manipulation.steps import Step, StepPlan
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.camera_rig import BASE_FRAME
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robot_g1 import (
    PLAN_FRAME,
    TCP_SITE,
    arm_joints,
    hand_joints,
)
from roborefer_ros.sim.robots import ROBOT_PREFIX
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
G1_OPTIONS = SimUR5eOptions(slip_tol_m=0.035)
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


class SimG1Backend(SimUR5eBackend):
    """A ManipulationBackend on a ``SimScene`` built with ``robot="g1"`` and
    ``dynamic_objects=True``. It steps the scene's own ``MjData``; use it from one thread."""

    name = "sim_g1"

    def __init__(self, scene: SimScene, options: SimUR5eOptions | None = None) -> None:
        self.scene = scene
        self.options = options or G1_OPTIONS
        self.last_fault: SimFault | None = None
        self._mj: Any = import_mujoco()
        self._model: Any = scene.model
        self._data: Any = scene.data
        self._why_unavailable = ""
        self._held = None
        self._cancelled: Callable[[], bool] = lambda: False
        self._wall_anchor: tuple[float, float] | None = None
        self._has_arm = False
        try:
            self.arms = {
                side: ArmKinematics(
                    self._model, arm_joints(side), ROBOT_PREFIX + TCP_SITE.format(side=side)
                )
                for side in SIDES
            }
        except SimError as err:
            self._why_unavailable = f"unavailable: {err} (not a G1 scene?)"
            return
        self._has_arm = True
        if not scene.dynamic_objects:
            self._why_unavailable = (
                "unavailable: the scene's objects are static; build it with dynamic_objects=True"
            )
        self._substeps = max(1, round(self.options.control_period_s / self._model.opt.timestep))
        self._object_names = {
            int(self._model.body(obj.name).id): obj.name for obj in self.scene.spec.objects
        }
        self._select_arm("right")
        self._q_ref = self.arm_q()
        self._hold_command(self._q_ref)

    # ---- arm and hand selection ----

    @property
    def side(self) -> str:
        """The arm in use: "left" or "right"."""
        return self._side

    def _select_arm(self, side: str) -> None:
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
        self._gripper_qpos = int(
            model.joint(ROBOT_PREFIX + f"{side}_hand_thumb_2_joint").qposadr[0]
        )
        self._finger_side: dict[int, str] = {}
        hand_bodies = set()
        for i in range(int(model.nbody)):
            name = str(model.body(i).name)
            if not name.startswith(f"{ROBOT_PREFIX}{side}_hand_"):
                continue
            hand_bodies.add(i)
            # the thumb opposes the fingers and the palm: "left" and "right" of the grasp check
            self._finger_side[i] = "left" if "_thumb_" in name else "right"
        self._gripper_bodies = frozenset(hand_bodies)

    def _plan_in_base(self, plan: StepPlan) -> StepPlan:
        """The plan's poses in base_link; chooses the arm by the sign of the first pose's y in
        torso_link (the holding arm is kept while an object is held)."""
        T_base_from_torso = self.scene.body_pose(ROBOT_PREFIX + PLAN_FRAME)
        if plan.frame == PLAN_FRAME:
            T = T_base_from_torso
        elif plan.frame == BASE_FRAME:
            T = Transform()
        else:
            raise _StopError(
                SimFault.REJECTED,
                f"plan frame {plan.frame!r} is neither {PLAN_FRAME!r} nor {BASE_FRAME!r}",
            )
        poses = [s.tcp_pose for s in plan.steps if s.tcp_pose is not None]
        if self._held is None and poses:
            y_torso = (T_base_from_torso.inverse() @ T @ poses[0]).translation[1]
            side = "left" if y_torso >= 0.0 else "right"
            if side != self._side:
                self._select_arm(side)
                self._q_ref = self.arm_q()
        steps = tuple(
            s if s.tcp_pose is None else _with_pose(s, T @ s.tcp_pose) for s in plan.steps
        )
        return StepPlan(
            frame=BASE_FRAME, steps=steps, object_half_height_m=plan.object_half_height_m
        )

    # ---- servos and hand ----

    def _hold_command(self, q_ref: FloatArray, qd_ref: FloatArray | None = None) -> None:
        """Servo set-points with the damping feed-forward (gravity is compensated by the model):
        ``ctrl = q_ref + kd*qd_ref/kp``."""
        qd = np.zeros_like(q_ref) if qd_ref is None else qd_ref
        self._data.ctrl[self._arm_actuators] = q_ref + self._kd * qd / self._kp

    def _gripper(self, command: float) -> None:
        """Close (``command`` > 0) or open the hand; returns when its joints stall."""
        target = self._hand_closed if command > 0 else self._hand_open
        self._data.ctrl[self._hand_actuators] = target
        dt = self.options.control_period_s
        still = 0
        for k in range(math.ceil(self.options.gripper_timeout_s / dt)):
            self._tick(self._q_ref, np.zeros_like(self._q_ref))
            speed = float(np.max(np.abs(self._data.qvel[self._hand_dofs])))
            still = 0 if speed > 0.05 else still + 1
            if k * dt > 0.3 and still * dt >= 0.1:
                break

    def _move(self, step: Step, target: Transform) -> None:
        """A MOVE that ends low over the table (a pre-grasp or pre-place near the objects) goes
        over them: rise straight up to a via height, cross at that height (a straight line, or a
        joint move where the line has no IK), then come straight down. The via height is the
        highest of ``_VIA_HEIGHTS_M`` the level hand reaches; near the chest it cannot go high."""
        if math.dist(self.tcp_pose().translation, target.translation) < 0.02:
            super()._move(step, target)
            return
        for via_z in _VIA_HEIGHTS_M:
            if target.translation[2] >= via_z:
                break
            try:
                self._via(step, target, via_z)
                return
            except _StopError as stop:
                if stop.fault is not SimFault.IK_UNREACHABLE:
                    raise
        super()._move(step, target)

    def _via(self, step: Step, target: Transform, via_z: float) -> None:
        start = self.tcp_pose()
        sx, sy, sz = start.translation
        if sz < via_z - 0.01:
            self._linear(step, Transform((sx, sy, via_z), start.quat_xyzw))
        x, y, _ = target.translation
        above = Transform((x, y, via_z), target.quat_xyzw)
        try:
            self._linear(step, above)
        except _StopError as stop:
            if stop.fault is not SimFault.IK_UNREACHABLE:
                raise
            super()._move(step, above)
        self._linear(step, target)

    def _seeds(self, target: Transform, q0: FloatArray) -> list[FloatArray]:
        """The current arm, the forearm-forward ready pose and the zero pose of this side."""
        del target
        ready = _READY_RIGHT if self._side == "right" else _READY_RIGHT * _MIRRORED
        return [q0, ready.copy(), np.zeros(7)]


def _with_pose(step: Step, pose: Transform) -> Step:
    return Step(step.kind, step.stage, step.label, pose, step.speed_scale)
