"""The simulated UR5e + Robotiq 2F-85 as a ``SimArmRig``: base_link plans, one 6-joint arm.

The 2F-85 is driven 0 (open) to 255 (closed).

MuJoCo's UR5e has no gravity compensation, so a bare PD servo sags by about a centimetre at the
TCP: the servo set-points carry a gravity and velocity feed-forward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import StepPlan
from roborefer_ros.sim.arms.executor import FloatArray, SimFault, StopError
from roborefer_ros.sim.arms.kinematics import ARM_JOINTS, ArmKinematics
from roborefer_ros.sim.camera_rig import BASE_FRAME
from roborefer_ros.sim.robots.base import ROBOT_PREFIX
from roborefer_ros.sim.scene import SimScene

_GRIPPER_ACTUATOR = ROBOT_PREFIX + "gripper/fingers_actuator"
_GRIPPER_JOINT = ROBOT_PREFIX + "gripper/right_driver_joint"
_GRIPPER_OPEN, _GRIPPER_CLOSED = 0.0, 255.0
GRIPPER_CLOSED_POSITION = 0.8  # the Robotiq driver's "closed" (GripperCommand position)
_FINGER_LINKS = ("driver", "coupler", "spring_link", "follower", "pad", "silicone_pad")


class UR5eRig:
    """The UR5e's arm and gripper in a compiled scene; SimError when the scene has none."""

    name = "ur5e"
    via_heights_m: tuple[float, ...] = ()

    def __init__(self, model: Any, data: Any, scene: SimScene) -> None:
        del scene
        self._data = data
        self.kinematics = ArmKinematics(model)
        joint_ids = [int(model.joint(ROBOT_PREFIX + n).id) for n in ARM_JOINTS]
        by_joint = {int(model.actuator_trnid[a, 0]): a for a in range(int(model.nu))}
        self._arm_actuators = np.array([by_joint[j] for j in joint_ids])
        self._kp = np.array(model.actuator_gainprm[self._arm_actuators, 0], dtype=np.float64)
        self._kd = -np.array(model.actuator_biasprm[self._arm_actuators, 2], dtype=np.float64)
        self._gripper_actuator = int(model.actuator(_GRIPPER_ACTUATOR).id)
        gripper_joint = model.joint(_GRIPPER_JOINT)
        self._gripper_qpos = int(gripper_joint.qposadr[0])
        self._gripper_dof = int(gripper_joint.dofadr[0])
        self.finger_side: dict[int, str] = {}
        for side in ("left", "right"):
            for link in _FINGER_LINKS:
                body = int(model.body(f"{ROBOT_PREFIX}gripper/{side}_{link}").id)
                self.finger_side[body] = side
        self.gripper_bodies = frozenset(
            i
            for i in range(int(model.nbody))
            if str(model.body(i).name).startswith(ROBOT_PREFIX + "gripper/")
        )

    def plan_in_base(self, plan: StepPlan, holding: bool) -> tuple[StepPlan, bool]:
        """The UR5e takes base_link plans only."""
        del holding
        if plan.frame != BASE_FRAME:
            raise StopError(SimFault.REJECTED, f"plan frame {plan.frame!r} is not {BASE_FRAME!r}")
        return plan, False

    def servo_command(self, q_ref: FloatArray, qd_ref: FloatArray) -> None:
        """The actuator force is kp*(ctrl - q) - kd*qd, so ``ctrl = q_ref + (kd*qd_ref +
        bias)/kp`` cancels gravity/Coriolis and the damping lag."""
        bias = self._data.qfrc_bias[self.kinematics.dof_index]
        self._data.ctrl[self._arm_actuators] = q_ref + (self._kd * qd_ref + bias) / self._kp

    def set_hand(self, closed: bool) -> None:
        self._data.ctrl[self._gripper_actuator] = _GRIPPER_CLOSED if closed else _GRIPPER_OPEN

    def set_hand_position(self, position: float) -> None:
        """0.0 open .. GRIPPER_CLOSED_POSITION closed (the driver joint's angle, rad)."""
        share = min(max(position / GRIPPER_CLOSED_POSITION, 0.0), 1.0)
        self._data.ctrl[self._gripper_actuator] = _GRIPPER_OPEN + share * (
            _GRIPPER_CLOSED - _GRIPPER_OPEN
        )

    def hand_speed(self) -> float:
        return abs(float(self._data.qvel[self._gripper_dof]))

    def hand_effort(self) -> float:
        return abs(float(self._data.actuator_force[self._gripper_actuator]))

    def hand_angle(self) -> float:
        return float(self._data.qpos[self._gripper_qpos])

    def seeds(self, target: Transform, q0: FloatArray) -> list[FloatArray]:
        """The current arm, and an elbow-up ready pose turned towards the target (the shoulder
        pan closest to the current one among the equivalent angles)."""
        x, y, _ = target.translation
        pan = math.atan2(y, x) + math.pi  # pan 0 points the arm along -x
        pan += 2 * math.pi * round((float(q0[0]) - pan) / (2 * math.pi))
        ready = np.array([pan, -1.57, 1.57, -1.57, -1.57, float(q0[5])])
        return [q0, ready]
