"""The Unitree G1 (29 DoF, Dex3 hands) standing at the table, from ``example-robot-data``.

The URDF is loaded with MuJoCo's URDF importer after its ``package://`` mesh paths are rewritten
to the installed package; the pelvis is fixed (the URDF's floating joint is commented out, so the
importer gives the pelvis no joint), the legs are made rigid (their joints are deleted: the robot
stands straight), and every waist, arm and hand joint gets a position actuator. Gravity
compensation is on for every robot body (the arm servos then only fight the motion).

Geometry in ``base_link`` (the table-top frame of the scene, z = 0 on the table top): the pelvis
stands at (0, 0, ``PELVIS_Z_M``) facing +x with its feet on the floor; the table's near edge is
``_TABLE_EDGE_X_M`` in front of it and the table top sits just below the pelvis, so the hands
reach table-top objects with the forearms level. The plan frame is ``torso_link``
(``PLAN_FRAME``); with the waist held at zero it is a fixed offset from ``base_link``. The scene
camera is the head ``d435_link`` camera (pitched ~0.83 rad down), static.

Collision geoms (the URDF's ``<collision>`` elements) are hidden from rendering (geom group 3);
visual meshes do not collide. Robot geoms do not collide with one another (contype 2,
conaffinity 1), only with the table and the objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from roborefer_ros.core.transforms import Transform, matrix_to_quat
from roborefer_ros.manipulation.g1.description import (
    ARM_JOINTS,
    G1DescriptionNotFoundError,
    find_g1_urdf,
)
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.camera_rig import CameraRig, look_at
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robots.base import ROBOT_PREFIX
from roborefer_ros.sim.spec import TableSpec

PLAN_FRAME = "torso_link"
HEAD_CAMERA_FRAME = "d435_link"
_PACKAGE_URL = "package://example-robot-data/"

PELVIS_Z_M = -0.08  # pelvis below the table top: a counter-height table for the G1
_FLOOR_BELOW_PELVIS_M = 0.793  # sole of the straight-legged G1 below its pelvis origin
_TABLE_EDGE_X_M = 0.16  # the table's near edge, in front of the pelvis (clear of the thighs)
G1_TABLE = TableSpec(
    x_range_m=(_TABLE_EDGE_X_M, 0.90),
    y_range_m=(-0.60, 0.60),
    height_m=PELVIS_Z_M + _FLOOR_BELOW_PELVIS_M,
    place_x_range_m=(0.17, 0.42),
    place_y_range_m=(-0.30, 0.30),
)
# torso_link and d435_link in the pelvis frame at zero waist angles (from the URDF's joints).
_PELVIS_TO_TORSO_M = (-0.0039635, 0.0, 0.044)
_TORSO_TO_D435_M = (0.0576235, 0.01753, 0.42987)
_D435_PITCH_RAD = 0.8307767  # about the torso's y: looking down
HEAD_CAMERA_FOVY_DEG = 58.0  # the D435's vertical depth field of view

ARM_JOINT_NAMES = ARM_JOINTS
HAND_JOINT_NAMES = ("thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1")
WAIST_JOINTS = ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
# The grasp point between thumb and fingers in the palm frame, for the right hand (the left hand
# mirrors y), and its orientation: z forward along the fingers, x up, the fingers closing along y.
TCP_IN_PALM_M = (0.06, 0.045, 0.0)
TCP_SITE = "{side}_hand_tcp"
_SERVO_KP: dict[str, float] = {"waist": 400.0, "arm": 300.0, "hand": 10.0}
_SERVO_KV: dict[str, float] = {"waist": 40.0, "arm": 20.0, "hand": 0.3}
_HAND_FORCE_NM = 6.0
_ARMATURE: dict[str, float] = {"waist": 0.05, "arm": 0.02, "hand": 0.004}


def arm_joints(side: str) -> tuple[str, ...]:
    """The 7 arm joint names (without prefix) of ``side`` ("left" or "right"), shoulder first."""
    return tuple(f"{side}_{j}_joint" for j in ARM_JOINT_NAMES)


def hand_joints(side: str) -> tuple[str, ...]:
    """The 7 Dex3 joint names (without prefix) of ``side``."""
    return tuple(f"{side}_hand_{j}_joint" for j in HAND_JOINT_NAMES)


def g1_urdf_path() -> Path:
    """The installed G1 29-DoF-with-hands URDF (``core.g1_description``); SimError if absent."""
    try:
        return find_g1_urdf()
    except G1DescriptionNotFoundError as err:
        raise SimError(
            f"the G1 model (package example-robot-data) is not installed: {err}"
        ) from None


def T_pelvis_from_torso() -> Transform:
    return Transform(_PELVIS_TO_TORSO_M, (0.0, 0.0, 0.0, 1.0))


def T_base_from_torso() -> Transform:
    """``torso_link`` in ``base_link`` with the waist at zero (what the scene's TF holds)."""
    x, y, z = _PELVIS_TO_TORSO_M
    return Transform((x, y, z + PELVIS_Z_M), (0.0, 0.0, 0.0, 1.0))


def T_base_from_head_camera() -> Transform:
    """``d435_link`` (x forward, z up) in ``base_link``."""
    c, s = math.cos(_D435_PITCH_RAD), math.sin(_D435_PITCH_RAD)
    R = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    return T_base_from_torso() @ Transform(_TORSO_TO_D435_M, matrix_to_quat(R))


def head_camera_rig(width: int, height: int) -> CameraRig:
    """The static head camera: at ``d435_link``, looking along its x axis."""
    pose = T_base_from_head_camera()
    eye = np.asarray(pose.translation)
    forward = pose.rotate([1.0, 0.0, 0.0])
    target = eye + np.asarray(forward)
    rig = CameraRig(
        eye_m=(float(eye[0]), float(eye[1]), float(eye[2])),
        target_m=(float(target[0]), float(target[1]), float(target[2])),
        fovy_deg=HEAD_CAMERA_FOVY_DEG,
        width=width,
        height=height,
    )
    look_at(rig.eye_m, rig.target_m)  # raises for a degenerate pose
    return rig


class G1:
    """The G1 with Dex3 hands, pelvis fixed at the table (see the module docstring)."""

    name = "g1"
    plan_frame = PLAN_FRAME
    table = G1_TABLE
    n_objects = 5  # the arms reach a small part of the table; frontal grasps need room
    # Upper arms spread sideways, forearms raised: the open hands wait 9 cm or more above the
    # table, outside the placement region and outside the head camera's view (left arm; the
    # right one mirrors roll and yaw).
    _HOME_ARM: ClassVar[dict[str, float]] = {
        "shoulder_pitch": 0.0,
        "shoulder_roll": 1.2,
        "shoulder_yaw": 0.5,
        "elbow": -0.6,
        "wrist_roll": 0.0,
        "wrist_pitch": 0.0,
        "wrist_yaw": 0.0,
    }

    def camera_rig(self, width: int, height: int) -> CameraRig:
        return head_camera_rig(width, height)

    def add_to(self, spec: Any) -> None:
        mujoco = import_mujoco()
        urdf = g1_urdf_path()
        package_root = urdf.parents[3]  # .../share/example-robot-data
        text = urdf.read_text()
        if _PACKAGE_URL not in text:
            raise SimError(f"{urdf} has no {_PACKAGE_URL} mesh paths to rewrite")
        text = text.replace(_PACKAGE_URL, str(package_root) + "/")
        head = re.search(r"<robot[^>]*>", text)
        if head is None:
            raise SimError(f"{urdf} has no <robot> element")
        compiler = (
            '<mujoco><compiler discardvisual="false" fusestatic="false" strippath="false"/>'
            "</mujoco>"
        )
        text = text[: head.end()] + compiler + text[head.end() :]
        robot = mujoco.MjSpec.from_string(text)
        _prepare(robot, mujoco)
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = 10.0
        frame = spec.worldbody.add_frame(pos=[0.0, 0.0, PELVIS_Z_M])
        frame.attach_body(robot.body("pelvis"), ROBOT_PREFIX)

    def home_qpos(self) -> Mapping[str, float]:
        q: dict[str, float] = {}
        for side, sign in (("left", 1.0), ("right", -1.0)):
            for joint, angle in self._HOME_ARM.items():
                mirrored = joint in ("shoulder_roll", "shoulder_yaw", "wrist_roll", "wrist_yaw")
                q[f"{ROBOT_PREFIX}{side}_{joint}_joint"] = sign * angle if mirrored else angle
        return q


def _group(joint_name: str) -> str | None:
    if joint_name in WAIST_JOINTS:
        return "waist"
    if "_hand_" in joint_name:
        return "hand"
    if any(joint_name.endswith(f"_{j}_joint") for j in ARM_JOINT_NAMES):
        return "arm"
    return None  # legs: made rigid


def _prepare(robot: Any, mujoco: Any) -> None:
    """Rigid legs, servos, gravity compensation, collision groups and the two TCP sites."""
    for joint in list(robot.joints):
        if _group(str(joint.name)) is None:
            robot.delete(joint)
    for joint in robot.joints:
        group = _group(str(joint.name))
        assert group is not None
        joint.armature = _ARMATURE[group]
        actuator = robot.add_actuator(name=str(joint.name), target=str(joint.name))
        actuator.trntype = mujoco.mjtTrn.mjTRN_JOINT
        actuator.set_to_position(kp=_SERVO_KP[group], kv=_SERVO_KV[group])
        actuator.ctrlrange = list(joint.range)
        actuator.ctrllimited = 1
        if group == "hand":
            actuator.forcerange = [-_HAND_FORCE_NM, _HAND_FORCE_NM]
            actuator.forcelimited = 1
    for body in robot.bodies:
        body.gravcomp = 1.0
    for geom in robot.geoms:
        if int(geom.contype) == 0 and int(geom.conaffinity) == 0:
            continue  # a visual mesh
        geom.group = 3
        geom.contype = 2
        geom.conaffinity = 1
        geom.friction = [1.2, 0.01, 0.001]
        geom.condim = 4
    for side, sign in (("left", -1.0), ("right", 1.0)):
        x, y, z = TCP_IN_PALM_M
        # columns: TCP x = palm z (up), TCP y = -palm y, TCP z = palm x (forward)
        R = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
        qx, qy, qz, qw = matrix_to_quat(R)
        robot.body(f"{side}_hand_palm_link").add_site(
            name=TCP_SITE.format(side=side),
            pos=[x, sign * y, z],
            quat=[qw, qx, qy, qz],
            size=[0.005, 0.0, 0.0],
            group=4,
        )
