"""Arm kinematics on a MuJoCo scene: forward kinematics, DLS inverse kinematics, contact queries.

Everything runs on a private scratch ``MjData`` so that solving IK or checking a configuration for
collisions never disturbs the live simulation. The TCP is the 2F-85's pinch site (between the
fingertips); its frame is the gripper's: z along the approach direction (out of the flange), the
fingers close along y. A top-down grasp with yaw t is ``quat_xyzw = (cos t/2, sin t/2, 0, 0)``.
MuJoCo's objects are ``Any``; they do not leave this module and ``sim_ur5e``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.transforms import Transform, matrix_to_quat, quat_to_matrix
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robots import ROBOT_PREFIX

FloatArray = npt.NDArray[np.float64]

ARM_JOINTS = (
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
)
TCP_SITE = ROBOT_PREFIX + "gripper/pinch"
_TABLE_BODY = "table"
_DAMPING = (
    0.03  # DLS lambda: large enough to stay finite at singularities, small enough to converge
)
_MAX_STEP_RAD = 0.25  # per-iteration joint step; keeps the linearisation valid far from the goal


@dataclass(frozen=True)
class IkSolution:
    """Result of one IK solve. ``q``: (n,) float64 arm angles in radians (the best iterate, also
    when it did not converge); errors are of the TCP at ``q`` against the target."""

    q: FloatArray
    position_error_m: float
    rotation_error_rad: float
    iterations: int

    def within(self, position_tol_m: float, rotation_tol_rad: float) -> bool:
        return (
            self.position_error_m <= position_tol_m and self.rotation_error_rad <= rotation_tol_rad
        )


class ArmKinematics:
    """FK, IK and collision queries for one arm of a compiled scene (``model``: ``MjModel``):
    by default the UR5e's 6 joints and the 2F-85 pinch site; ``joints`` (names without the robot
    prefix) and ``tcp_site`` (with it) choose another arm, e.g. one of the G1's 7-joint arms."""

    def __init__(
        self, model: Any, joints: tuple[str, ...] = ARM_JOINTS, tcp_site: str = TCP_SITE
    ) -> None:
        mujoco = import_mujoco()
        self._mj = mujoco
        self._model = model
        self._data = mujoco.MjData(model)
        try:
            found = [model.joint(ROBOT_PREFIX + name) for name in joints]
            self._site = int(model.site(tcp_site).id)
        except KeyError as err:
            robot = "UR5e with a 2F-85" if joints == ARM_JOINTS else f"arm {joints[0]}..."
            raise SimError(f"the scene has no {robot} ({err})") from None
        joints_ = found
        self.qpos_index = np.array([int(j.qposadr[0]) for j in joints_])
        self.dof_index = np.array([int(j.dofadr[0]) for j in joints_])
        self.lower = np.array([float(j.range[0]) for j in joints_])
        self.upper = np.array([float(j.range[1]) for j in joints_])
        body_names = [str(model.body(i).name) for i in range(int(model.nbody))]
        self.robot_bodies = frozenset(
            i for i, n in enumerate(body_names) if n.startswith(ROBOT_PREFIX)
        )
        self.table_body = body_names.index(_TABLE_BODY) if _TABLE_BODY in body_names else -1
        self._jacp = np.zeros((3, int(model.nv)))
        self._jacr = np.zeros((3, int(model.nv)))

    def fk(self, q: npt.ArrayLike) -> Transform:
        """``T_base_from_tcp`` at arm angles ``q`` (n,)."""
        self._set_arm(np.asarray(q, dtype=np.float64))
        return self._tcp()

    def solve(
        self,
        target: Transform,
        seed: npt.ArrayLike,
        *,
        max_iterations: int = 300,
        position_tol_m: float = 2e-4,
        rotation_tol_rad: float = 2e-3,
    ) -> IkSolution:
        """Damped least squares on the 6-D TCP error from ``seed``; stops when both errors are
        below the tolerances. The caller judges convergence (``IkSolution.within``)."""
        q = np.clip(np.asarray(seed, dtype=np.float64).copy(), self.lower, self.upper)
        p_target = np.asarray(target.translation)
        R_target = target.rotation_matrix()
        best = IkSolution(q.copy(), math.inf, math.inf, 0)
        for iteration in range(max_iterations + 1):
            self._set_arm(q)
            e_p = p_target - self._data.site_xpos[self._site]
            R = self._data.site_xmat[self._site].reshape(3, 3)
            e_r = rotation_vector(R_target @ R.T)
            err_p, err_r = float(np.linalg.norm(e_p)), float(np.linalg.norm(e_r))
            if err_p + 0.1 * err_r < best.position_error_m + 0.1 * best.rotation_error_rad:
                best = IkSolution(q.copy(), err_p, err_r, iteration)
            if (
                err_p <= position_tol_m and err_r <= rotation_tol_rad
            ) or iteration == max_iterations:
                break
            self._mj.mj_comPos(self._model, self._data)
            self._mj.mj_jacSite(self._model, self._data, self._jacp, self._jacr, self._site)
            J = np.vstack([self._jacp[:, self.dof_index], self._jacr[:, self.dof_index]])
            e = np.concatenate([e_p, e_r])
            dq = J.T @ np.linalg.solve(J @ J.T + _DAMPING**2 * np.eye(6), e)
            largest = float(np.max(np.abs(dq)))
            if largest > _MAX_STEP_RAD:
                dq *= _MAX_STEP_RAD / largest
            q = np.clip(q + dq, self.lower, self.upper)
        return best

    def contacts_at(
        self, q: npt.ArrayLike, qpos: npt.ArrayLike, ignore_bodies: frozenset[int] = frozenset()
    ) -> list[tuple[int, int]]:
        """Body pairs (robot body, other body) in contact when the arm is at ``q`` and everything
        else at ``qpos`` (the live state): the robot against the table or any object, except
        bodies in ``ignore_bodies`` (e.g. the object held in the gripper)."""
        self._data.qpos[:] = np.asarray(qpos, dtype=np.float64)
        self._data.qpos[self.qpos_index] = np.asarray(q, dtype=np.float64)
        self._mj.mj_fwdPosition(self._model, self._data)
        return robot_contacts(self._model, self._data, self.robot_bodies, ignore_bodies)

    def _set_arm(self, q: FloatArray) -> None:
        self._data.qpos[self.qpos_index] = q
        self._mj.mj_kinematics(self._model, self._data)

    def _tcp(self) -> Transform:
        p = self._data.site_xpos[self._site]
        R = self._data.site_xmat[self._site].reshape(3, 3)
        return Transform((float(p[0]), float(p[1]), float(p[2])), matrix_to_quat(R))


def robot_contacts(
    model: Any, data: Any, robot_bodies: frozenset[int], ignore_bodies: frozenset[int]
) -> list[tuple[int, int]]:
    """(robot body, other body) of every active contact between the robot and something that is
    not the robot, the world's static floor excluded, nor a body in ``ignore_bodies``."""
    pairs = []
    for i in range(int(data.ncon)):
        contact = data.contact[i]
        if float(contact.dist) > 0.0:
            continue
        b1 = int(model.geom_bodyid[contact.geom1])
        b2 = int(model.geom_bodyid[contact.geom2])
        if (b1 in robot_bodies) == (b2 in robot_bodies):
            continue
        robot, other = (b1, b2) if b1 in robot_bodies else (b2, b1)
        if other != 0 and other not in ignore_bodies:
            pairs.append((robot, other))
    return pairs


def rotation_vector(R: FloatArray) -> FloatArray:
    """Axis * angle (3,) of a 3x3 rotation, angle in [0, pi]."""
    x, y, z, w = matrix_to_quat(R)
    s = math.sqrt(x * x + y * y + z * z)
    if s < 1e-12:
        return np.zeros(3)
    angle = 2.0 * math.atan2(s, w)
    return np.array([x, y, z]) * (angle / s)


def rotation_angle(a: Transform, b: Transform) -> float:
    """Angle in radians of the rotation between two poses' orientations."""
    return float(
        np.linalg.norm(rotation_vector(quat_to_matrix(a.quat_xyzw).T @ b.rotation_matrix()))
    )
