"""Gravity torques of the G1's upper body from its URDF (ROS-free; numpy and xml.etree only).

The arm_sdk PD law alone lets an arm sag: the G1's arm with its Dex3 weighs 4 kg and its shoulder
holds up to ~6.5 N m against gravity, 0.1 rad at the arm_sdk's kp of 60, twice the bridge's goal
tolerance. The bridge sends these torques as each commanded motor's ``tau`` feed-forward
(``g1_gravity_feedforward``), so the PD law only has to move the arm.

Model: the ``waist_yaw_joint`` subtree of the URDF (waist, torso, head, both arms and hands),
every link with its ``<inertial>`` mass and centre of mass, the joints' origins and axes; the
pelvis upright (gravity along its -z, the standing robot: its tilt from the IMU is not used); the
Dex3 joints at 0. The hold torque of joint ``j`` is ``-a_j . ((S_j - M_j p_j) x m g)`` summed
over the links below it, with ``M_j`` their mass, ``S_j`` their first moment, ``p_j`` and
``a_j`` the joint's position and axis. A held object is not in the model.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1.kinematics import (
    G1KinematicsError,
    axis_angle_matrix,
    find_g1_urdf,
    rpy_matrix,
)

FloatArray = npt.NDArray[np.float64]

GRAVITY_M_S2 = 9.81
NUM_MOTORS = 35
ROOT_JOINT = "waist_yaw_joint"
_SIDES = ("left", "right")
_ARM = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch")
# Motor slot of each joint the arm_sdk commands (12-14 waist, 15-21 left arm, 22-28 right arm).
MOTOR_SLOTS: dict[str, int] = {
    "waist_yaw_joint": 12,
    "waist_roll_joint": 13,
    "waist_pitch_joint": 14,
    **{
        f"{side}_{joint}_joint": first + i
        for side, first in zip(_SIDES, (15, 22), strict=True)
        for i, joint in enumerate((*_ARM, "wrist_yaw"))
    },
}


@dataclass(frozen=True)
class _Joint:
    name: str
    parent: int  # index of the parent joint in the tree order, -1 for the root
    T_parent_from_joint: FloatArray  # (4, 4) the joint's origin in its parent link
    axis: FloatArray  # (3,) unit axis in the joint frame; zeros for a fixed joint
    mass: float  # the child link's
    com: FloatArray  # (3,) the child link's centre of mass in the joint frame
    slot: int  # motor slot, -1 for a fixed or unmodelled (hand) joint


@dataclass(frozen=True, eq=False)
class UpperBody:
    """The ``waist_yaw_joint`` subtree in tree order (a parent before its children); the root
    joint's origin is in the pelvis frame."""

    joints: tuple[_Joint, ...]

    @property
    def mass_kg(self) -> float:
        return sum(j.mass for j in self.joints)


def _vec(text: str | None, default: str = "0 0 0") -> FloatArray:
    values = np.array([float(v) for v in (text or default).split()], dtype=np.float64)
    if values.shape != (3,):
        raise G1KinematicsError("urdf", f"expected 3 numbers, got {text!r}")
    return values


def _origin(element: ET.Element | None) -> FloatArray:
    T = np.eye(4)
    if element is not None:
        T[:3, :3] = rpy_matrix(_vec(element.get("rpy")))
        T[:3, 3] = _vec(element.get("xyz"))
    return T


def load_upper_body(urdf_path: Path | None = None) -> UpperBody:
    """The G1's upper body from its URDF (found with ``find_g1_urdf`` when no path is given);
    G1KinematicsError("urdf") when it cannot be read or lacks the waist."""
    path = urdf_path if urdf_path is not None else find_g1_urdf()
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise G1KinematicsError("urdf", f"cannot read G1 URDF {path}: {err}") from None
    inertials: dict[str, tuple[float, FloatArray]] = {}
    for link in root.findall("link"):
        inertial = link.find("inertial")
        if inertial is None:
            continue
        mass_element = inertial.find("mass")
        com_element = inertial.find("origin")
        inertials[link.get("name", "")] = (
            float(mass_element.get("value", "0")) if mass_element is not None else 0.0,
            _vec(com_element.get("xyz") if com_element is not None else None),
        )
    by_parent: dict[str, list[ET.Element]] = {}
    start: ET.Element | None = None
    for joint in root.findall("joint"):
        parent = joint.find("parent")
        by_parent.setdefault(parent.get("link", "") if parent is not None else "", []).append(joint)
        if joint.get("name") == ROOT_JOINT:
            start = joint
    if start is None:
        raise G1KinematicsError("urdf", f"{path}: no joint {ROOT_JOINT!r}")
    joints: list[_Joint] = []
    queue: list[tuple[ET.Element, int]] = [(start, -1)]
    while queue:
        element, parent_index = queue.pop(0)
        name = element.get("name", "")
        child = element.find("child")
        child_link = child.get("link", "") if child is not None else ""
        kind = element.get("type", "fixed")
        axis_element = element.find("axis")
        axis = np.zeros(3)
        if kind in ("revolute", "continuous"):
            axis = _vec(axis_element.get("xyz") if axis_element is not None else None, "1 0 0")
            axis = axis / np.linalg.norm(axis)
        mass, com = inertials.get(child_link, (0.0, np.zeros(3)))
        origin = _origin(element.find("origin"))
        slot = MOTOR_SLOTS.get(name, -1)
        joints.append(_Joint(name, parent_index, origin, axis, mass, com, slot))
        index = len(joints) - 1
        queue += [(j, index) for j in by_parent.get(child_link, [])]
    return UpperBody(tuple(joints))


def gravity_torques(body: UpperBody, q: npt.ArrayLike) -> FloatArray:
    """(35,) the torque each waist and arm motor must apply to hold the upper body still at the
    motor angles ``q`` (35,), rad; 0 for the other slots. N m, the motors' sign convention."""
    q_all = np.asarray(q, dtype=np.float64)
    if q_all.shape != (NUM_MOTORS,):
        raise G1KinematicsError("input", f"q must have shape (35,), got {q_all.shape}")
    n = len(body.joints)
    frames = np.empty((n, 4, 4))
    positions = np.empty((n, 3))
    axes = np.empty((n, 3))
    moments = np.zeros((n, 3))  # first moment of mass of each joint's subtree, pelvis frame
    masses = np.zeros(n)
    for i, joint in enumerate(body.joints):
        parent = np.eye(4) if joint.parent < 0 else frames[joint.parent]
        T = parent @ joint.T_parent_from_joint
        positions[i] = T[:3, 3]
        axes[i] = T[:3, :3] @ joint.axis
        if joint.slot >= 0:
            rotation = np.eye(4)
            rotation[:3, :3] = axis_angle_matrix(joint.axis, float(q_all[joint.slot]))
            T = T @ rotation
        frames[i] = T
        moments[i] = joint.mass * (T[:3, :3] @ joint.com + T[:3, 3])
        masses[i] = joint.mass
    for i in range(n - 1, 0, -1):  # children come after their parents
        parent = body.joints[i].parent
        moments[parent] += moments[i]
        masses[parent] += masses[i]
    weight = np.array([0.0, 0.0, -GRAVITY_M_S2])
    torques = np.zeros(NUM_MOTORS)
    for i, joint in enumerate(body.joints):
        if joint.slot < 0:
            continue
        arm = moments[i] - masses[i] * positions[i]
        torques[joint.slot] = -float(np.dot(axes[i], np.cross(arm, weight)))
    return torques
