"""Unitree G1 arm kinematics in ``torso_link`` (ROS-free; numpy and xml.etree only).

The arm chains are read from the G1 URDF that the ``example-robot-data`` package ships
(``g1_29dof_with_hand_rev_1_0.urdf``): ``torso_link`` -> ``<side>_shoulder_pitch`` ... ``wrist_yaw``
-> ``<side>_hand_palm_link``. Nothing here needs MuJoCo or pinocchio, so the bridge runs on the
robot's own computer.

Conventions:

- joint vectors ``q`` are float64 arrays of shape (7,), in the order of ``ARM_JOINTS``
  (shoulder_pitch, shoulder_roll, shoulder_yaw, elbow, wrist_roll, wrist_pitch, wrist_yaw), the
  order of the G1's motor slots 15-21 (left) and 22-28 (right);
- poses are 4x4 float64 homogeneous matrices ``T_torso_from_x``;
- the tool centre point (TCP, between the fingertips) is ``tcp_offset_m`` ahead of the palm along
  the palm's +x (the finger direction) and ``tcp_lateral_m`` along the palm's y towards the
  thumb's side (+y on the right hand, -y on the left: the hands are mirror images; the Dex3's
  grasp point between thumb and fingers is (0.06, 0.045) m). The TCP frame follows the plan
  convention (its +z is the approach axis): TCP z = palm x, TCP x = palm z (for the frontal
  grasp: up), TCP y = -palm y.

Joint limits are the URDF's intersected with the documented G1 limits (``DOCUMENTED_LIMITS_RAD``).
The IK is damped least squares on position plus weighted orientation, seeded from the measured
joints, clamped to the limits every iteration, with a few deterministic restarts.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1 import description as g1_description
from roborefer_ros.manipulation.g1.description import ARM_JOINTS, G1DescriptionNotFoundError

FloatArray = npt.NDArray[np.float64]

BASE_FRAME = "torso_link"
NUM_ARM_JOINTS = len(ARM_JOINTS)


class ArmSide(Enum):
    LEFT = "left"
    RIGHT = "right"

    @property
    def first_motor(self) -> int:
        """Motor slot of the shoulder pitch (15 left, 22 right); the arm uses 7 slots from it."""
        return 15 if self is ArmSide.LEFT else 22

    @property
    def motor_slots(self) -> tuple[int, ...]:
        return tuple(range(self.first_motor, self.first_motor + NUM_ARM_JOINTS))

    @classmethod
    def for_target(cls, y_m: float) -> ArmSide:
        """The arm on the target's side of the torso (y >= 0: left, REP-103 y is to the left)."""
        return cls.LEFT if y_m >= 0.0 else cls.RIGHT


# Documented G1 (29-DoF rev 1.0) arm limits in rad, per side (shoulder_roll is mirrored).
DOCUMENTED_LIMITS_RAD: dict[ArmSide, tuple[tuple[float, float], ...]] = {
    ArmSide.LEFT: (
        (-3.09, 2.67),
        (-1.59, 2.25),
        (-2.62, 2.62),
        (-1.05, 2.09),
        (-1.97, 1.97),
        (-1.61, 1.61),
        (-1.61, 1.61),
    ),
    ArmSide.RIGHT: (
        (-3.09, 2.67),
        (-2.25, 1.59),
        (-2.62, 2.62),
        (-1.05, 2.09),
        (-1.97, 1.97),
        (-1.61, 1.61),
        (-1.61, 1.61),
    ),
}

# R_palm_from_tcp: columns are the TCP axes in the palm frame (x = palm z, y = -palm y, z = palm x).
R_PALM_FROM_TCP = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])


class G1KinematicsError(Exception):
    """A URDF that cannot be found or read, a target out of reach, an IK that did not converge.

    ``reason`` is one of "urdf", "reach", "ik", "input"; the message names the offending value.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# The URDF


def find_g1_urdf() -> Path:
    """``core.g1_description.find_g1_urdf``; G1KinematicsError("urdf") when it is absent."""
    try:
        return g1_description.find_g1_urdf()
    except G1DescriptionNotFoundError as err:
        raise G1KinematicsError("urdf", str(err)) from None


def _floats(text: str | None, count: int, what: str) -> FloatArray:
    values = np.array([float(v) for v in (text or "").split()], dtype=np.float64)
    if values.shape != (count,):
        raise G1KinematicsError("urdf", f"{what}: expected {count} numbers, got {text!r}")
    return values


def rpy_matrix(rpy: npt.ArrayLike) -> FloatArray:
    """URDF fixed-axis roll-pitch-yaw: R = Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    r, p, y = np.asarray(rpy, dtype=np.float64).tolist()
    cr, sr, cp, sp, cy, sy = (
        math.cos(r),
        math.sin(r),
        math.cos(p),
        math.sin(p),
        math.cos(y),
        math.sin(y),
    )
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def axis_angle_matrix(axis: FloatArray, angle: float) -> FloatArray:
    """Rotation by ``angle`` about the unit ``axis`` (Rodrigues)."""
    x, y, z = axis.tolist()
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return np.array(
        [
            [c + x * x * t, x * y * t - z * s, x * z * t + y * s],
            [y * x * t + z * s, c + y * y * t, y * z * t - x * s],
            [z * x * t - y * s, z * y * t + x * s, c + z * z * t],
        ]
    )


def rotation_log(rotation: FloatArray) -> FloatArray:
    """The rotation vector (axis * angle, shape (3,)) of a 3x3 rotation matrix."""
    cos_angle = max(-1.0, min(1.0, (float(np.trace(rotation)) - 1.0) / 2.0))
    angle = math.acos(cos_angle)
    vee = np.array(
        [
            rotation[2, 1] - rotation[1, 2],
            rotation[0, 2] - rotation[2, 0],
            rotation[1, 0] - rotation[0, 1],
        ]
    )
    if angle < 1e-9:
        return vee / 2.0
    if math.pi - angle < 1e-6:  # near 180 degrees: the axis from the symmetric part
        column = int(np.argmax(np.diag(rotation)))
        axis = (rotation[:, column] + np.eye(3)[:, column]) / math.sqrt(
            2.0 * (1.0 + rotation[column, column])
        )
        return axis * angle
    return vee * (angle / (2.0 * math.sin(angle)))


def _transform(rotation: FloatArray, translation: FloatArray) -> FloatArray:
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = translation
    return out


@dataclass(frozen=True, eq=False)
class ArmChain:
    """One arm from ``torso_link`` to the palm.

    ``T_parent_from_joint``: (7, 4, 4) fixed joint origins; ``axes``: (7, 3) unit axes in the
    joint frames; ``lower`` / ``upper``: (7,) limits in rad (URDF intersected with the documented
    ones); ``T_wrist_from_palm``: (4, 4) the fixed palm joint.
    """

    side: ArmSide
    joint_names: tuple[str, ...]
    T_parent_from_joint: FloatArray
    axes: FloatArray
    lower: FloatArray
    upper: FloatArray
    T_wrist_from_palm: FloatArray
    palm_link: str

    @property
    def shoulder_position(self) -> FloatArray:
        """The shoulder pitch joint's origin in ``torso_link`` (shape (3,))."""
        position: FloatArray = self.T_parent_from_joint[0][:3, 3].copy()
        return position

    @property
    def max_reach_m(self) -> float:
        """Shoulder pitch joint to palm origin, fully stretched: the sum of the link offsets
        (an upper bound by the triangle inequality; about 0.45 m on the G1)."""
        lengths = [float(np.linalg.norm(T[:3, 3])) for T in self.T_parent_from_joint[1:]]
        return sum(lengths) + float(np.linalg.norm(self.T_wrist_from_palm[:3, 3]))

    def clamp(self, q: npt.ArrayLike, margin_rad: float = 0.0) -> FloatArray:
        return np.clip(
            np.asarray(q, dtype=np.float64), self.lower + margin_rad, self.upper - margin_rad
        )

    def within_limits(self, q: npt.ArrayLike, tolerance_rad: float = 1e-9) -> bool:
        arr = np.asarray(q, dtype=np.float64)
        return bool(
            np.all(arr >= self.lower - tolerance_rad) and np.all(arr <= self.upper + tolerance_rad)
        )


def _joint_elements(root: ET.Element) -> dict[str, ET.Element]:
    return {j.get("name", ""): j for j in root.findall("joint")}


def _read_urdf_joints(path: Path) -> dict[str, ET.Element]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise G1KinematicsError("urdf", f"cannot read G1 URDF {path}: {err}") from None
    return _joint_elements(root)


def _chain_joint(
    path: Path, joints: dict[str, ET.Element], name: str, parent: str
) -> tuple[ET.Element, FloatArray, FloatArray, str]:
    """The joint ``name`` checked to hang from ``parent``: (element, T_parent_from_joint, unit
    axis, child link)."""
    element = joints.get(name)
    if element is None:
        raise G1KinematicsError("urdf", f"{path}: joint {name!r} missing")
    joint_parent = element.find("parent")
    if joint_parent is None or joint_parent.get("link") != parent:
        got = None if joint_parent is None else joint_parent.get("link")
        raise G1KinematicsError(
            "urdf", f"{path}: joint {name!r} has parent {got!r}, expected {parent!r}"
        )
    origin = element.find("origin")
    xyz = _floats(origin.get("xyz", "0 0 0") if origin is not None else "0 0 0", 3, name)
    rpy = _floats(origin.get("rpy", "0 0 0") if origin is not None else "0 0 0", 3, name)
    axis_element = element.find("axis")
    axis = _floats(axis_element.get("xyz") if axis_element is not None else "1 0 0", 3, name)
    child = element.find("child")
    return (
        element,
        _transform(rpy_matrix(rpy), xyz),
        axis / np.linalg.norm(axis),
        child.get("link", "") if child is not None else "",
    )


def load_arm_chain(side: ArmSide, urdf_path: Path | None = None) -> ArmChain:
    """Parse one arm chain from the URDF (found with ``find_g1_urdf`` when no path is given)."""
    path = urdf_path if urdf_path is not None else find_g1_urdf()
    joints = _read_urdf_joints(path)
    names = tuple(f"{side.value}_{joint}_joint" for joint in ARM_JOINTS)
    origins, axes, lower, upper = [], [], [], []
    parent = BASE_FRAME
    for name, documented in zip(names, DOCUMENTED_LIMITS_RAD[side], strict=True):
        element, origin, axis, child = _chain_joint(path, joints, name, parent)
        origins.append(origin)
        axes.append(axis)
        limit = element.find("limit")
        if limit is None:
            raise G1KinematicsError("urdf", f"{path}: joint {name!r} has no limits")
        lo = max(float(limit.get("lower", "-inf")), documented[0])
        hi = min(float(limit.get("upper", "inf")), documented[1])
        if not lo < hi:
            raise G1KinematicsError("urdf", f"{path}: joint {name!r} has empty limits [{lo}, {hi}]")
        lower.append(lo)
        upper.append(hi)
        parent = child
    palm_link = f"{side.value}_hand_palm_link"
    palm = next(
        (
            j
            for j in joints.values()
            if (c := j.find("child")) is not None and c.get("link") == palm_link
        ),
        None,
    )
    if palm is None:
        raise G1KinematicsError("urdf", f"{path}: no joint leads to {palm_link!r}")
    palm_origin = palm.find("origin")
    xyz = _floats(palm_origin.get("xyz") if palm_origin is not None else "0 0 0", 3, palm_link)
    rpy = _floats(
        palm_origin.get("rpy", "0 0 0") if palm_origin is not None else "0 0 0", 3, palm_link
    )
    return ArmChain(
        side=side,
        joint_names=names,
        T_parent_from_joint=np.stack(origins),
        axes=np.stack(axes),
        lower=np.array(lower),
        upper=np.array(upper),
        T_wrist_from_palm=_transform(rpy_matrix(rpy), xyz),
        palm_link=palm_link,
    )


WAIST_JOINTS = ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")  # slots 12-14
WAIST_YAW_LIMITS_RAD = (-2.618, 2.618)  # documented G1 29-DoF waist yaw range


@dataclass(frozen=True, eq=False)
class WaistChain:
    """``pelvis`` -> waist yaw, roll, pitch -> ``torso_link``: what turns the arms' base.

    ``T_parent_from_joint``: (3, 4, 4) fixed joint origins; ``axes``: (3, 3) unit axes;
    ``yaw_limits``: the yaw joint's range (URDF intersected with the documented one)."""

    T_parent_from_joint: FloatArray
    axes: FloatArray
    yaw_limits: tuple[float, float]

    def T_pelvis_from_torso(self, q_waist: npt.ArrayLike) -> FloatArray:
        q = np.asarray(q_waist, dtype=np.float64)
        if q.shape != (3,) or not np.all(np.isfinite(q)):
            raise G1KinematicsError("input", f"waist angles must be 3 finite, got {q.tolist()}")
        T = np.eye(4)
        for origin, axis, angle in zip(self.T_parent_from_joint, self.axes, q, strict=True):
            T = T @ origin @ _transform(axis_angle_matrix(axis, float(angle)), np.zeros(3))
        return T

    def torso_turn(self, q_from: npt.ArrayLike, q_to: npt.ArrayLike) -> FloatArray:
        """T_torso(q_to)_from_torso(q_from): a point fixed to the pelvis (the table's, an
        object's), given in the torso frame with the waist at ``q_from``, in the torso frame with
        the waist at ``q_to``."""
        return np.linalg.inv(self.T_pelvis_from_torso(q_to)) @ self.T_pelvis_from_torso(q_from)


def load_waist_chain(urdf_path: Path | None = None) -> WaistChain:
    """Parse the waist (pelvis to torso_link) from the URDF, as ``load_arm_chain`` the arms."""
    path = urdf_path if urdf_path is not None else find_g1_urdf()
    joints = _read_urdf_joints(path)
    origins, axes = [], []
    parent = "pelvis"
    yaw_limits = WAIST_YAW_LIMITS_RAD
    for name in WAIST_JOINTS:
        element, origin, axis, child = _chain_joint(path, joints, name, parent)
        origins.append(origin)
        axes.append(axis)
        limit = element.find("limit")
        if name == WAIST_JOINTS[0] and limit is not None:
            yaw_limits = (
                max(float(limit.get("lower", "-inf")), WAIST_YAW_LIMITS_RAD[0]),
                min(float(limit.get("upper", "inf")), WAIST_YAW_LIMITS_RAD[1]),
            )
        parent = child
    if parent != BASE_FRAME:
        raise G1KinematicsError("urdf", f"{path}: the waist ends at {parent!r}, not {BASE_FRAME}")
    return WaistChain(np.stack(origins), np.stack(axes), yaw_limits)


# ---------------------------------------------------------------------------------------------
# FK and IK


def T_palm_from_tcp(
    tcp_offset_m: float, tcp_lateral_m: float = 0.0, side: ArmSide = ArmSide.RIGHT
) -> FloatArray:
    lateral = tcp_lateral_m if side is ArmSide.RIGHT else -tcp_lateral_m
    return _transform(R_PALM_FROM_TCP, np.array([tcp_offset_m, lateral, 0.0]))


def _forward(
    chain: ArmChain, q: FloatArray, T_last_from_tip: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(T_torso_from_tip (4, 4), joint positions (7, 3), joint axes (7, 3)) in torso_link."""
    T = np.eye(4)
    positions = np.empty((NUM_ARM_JOINTS, 3))
    axes = np.empty((NUM_ARM_JOINTS, 3))
    for i in range(NUM_ARM_JOINTS):
        T = T @ chain.T_parent_from_joint[i]
        positions[i] = T[:3, 3]
        axes[i] = T[:3, :3] @ chain.axes[i]
        T = T @ _transform(axis_angle_matrix(chain.axes[i], float(q[i])), np.zeros(3))
    return T @ T_last_from_tip, positions, axes


def forward_kinematics(
    chain: ArmChain, q: npt.ArrayLike, tcp_offset_m: float = 0.0, tcp_lateral_m: float = 0.0
) -> FloatArray:
    """T_torso_from_tcp (4, 4); with both offsets 0 its origin is the palm link's."""
    return joint_frames(chain, q, tcp_offset_m, tcp_lateral_m)[0]


def joint_frames(
    chain: ArmChain, q: npt.ArrayLike, tcp_offset_m: float = 0.0, tcp_lateral_m: float = 0.0
) -> tuple[FloatArray, FloatArray]:
    """(T_torso_from_tcp (4, 4), the 7 joint origins (7, 3)) in torso_link: where the links
    run, for a collision check of the arm's body."""
    arr = np.asarray(q, dtype=np.float64)
    if arr.shape != (NUM_ARM_JOINTS,):
        raise G1KinematicsError("input", f"q must have shape (7,), got {arr.shape}")
    tip = chain.T_wrist_from_palm @ T_palm_from_tcp(tcp_offset_m, tcp_lateral_m, chain.side)
    T_tcp, positions, _axes = _forward(chain, arr, tip)
    return T_tcp, positions


@dataclass(frozen=True)
class IkOptions:
    """``orientation_weight`` 0 solves position only; ``position_tolerance_m`` and
    ``orientation_tolerance_rad`` decide success; ``restarts`` extra seeds (deterministic)."""

    tcp_offset_m: float = 0.10
    tcp_lateral_m: float = 0.0  # towards the thumb (see the module docstring)
    orientation_weight: float = 0.3
    position_tolerance_m: float = 0.002
    orientation_tolerance_rad: float = 0.10
    damping: float = 0.05
    max_step_rad: float = 0.3
    max_iterations: int = 150
    restarts: int = 12
    max_reach_m: float | None = None  # shoulder pitch joint to palm; None: the URDF's bound
    limit_margin_rad: float = 0.02

    def __post_init__(self) -> None:
        for name in ("tcp_offset_m", "orientation_weight", "damping", "limit_margin_rad"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if not math.isfinite(self.tcp_lateral_m):
            raise ValueError(f"tcp_lateral_m must be finite, got {self.tcp_lateral_m!r}")
        for name in ("position_tolerance_m", "orientation_tolerance_rad", "max_step_rad"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if self.max_reach_m is not None and not (
            math.isfinite(self.max_reach_m) and self.max_reach_m > 0.0
        ):
            raise ValueError(f"max_reach_m must be finite and > 0, got {self.max_reach_m!r}")
        if self.max_iterations < 1 or self.restarts < 0:
            raise ValueError(
                f"max_iterations must be >= 1 and restarts >= 0, got "
                f"{self.max_iterations}, {self.restarts}"
            )


@dataclass(frozen=True)
class IkSolution:
    q: FloatArray  # (7,) within the limits minus the margin
    position_error_m: float
    orientation_error_rad: float
    iterations: int  # over all attempts


def check_reach(chain: ArmChain, position: npt.ArrayLike, options: IkOptions) -> float:
    """Shoulder-to-target distance; G1KinematicsError("reach") beyond max_reach_m + tcp offset."""
    target = np.asarray(position, dtype=np.float64)
    distance = float(np.linalg.norm(target - chain.shoulder_position))
    palm_reach = chain.max_reach_m if options.max_reach_m is None else options.max_reach_m
    reach = palm_reach + math.hypot(options.tcp_offset_m, options.tcp_lateral_m)
    if distance > reach:
        raise G1KinematicsError(
            "reach",
            f"target ({target[0]:.3f}, {target[1]:.3f}, {target[2]:.3f}) in {BASE_FRAME} is "
            f"{distance:.3f} m from the {chain.side.value} shoulder, beyond the reach "
            f"{reach:.3f} m ({palm_reach:.3f} m + TCP offset {options.tcp_offset_m:.2f} m)",
        )
    return distance


def _errors(T_current: FloatArray, T_target: FloatArray) -> tuple[FloatArray, FloatArray]:
    position = T_target[:3, 3] - T_current[:3, 3]
    rotation = rotation_log(T_target[:3, :3] @ T_current[:3, :3].T)
    return position, rotation


def solve_ik(
    chain: ArmChain,
    T_torso_from_tcp: npt.ArrayLike,
    seed: npt.ArrayLike,
    options: IkOptions | None = None,
) -> IkSolution:
    """Joints that put the TCP at the target pose, near ``seed`` (the measured joints).

    Raises G1KinematicsError: "reach" (checked first), "ik" (no attempt within the tolerances;
    the message gives the best residuals), "input" (bad shapes).
    """
    opts = options or IkOptions()
    target = np.asarray(T_torso_from_tcp, dtype=np.float64)
    start = np.asarray(seed, dtype=np.float64)
    if target.shape != (4, 4) or not np.all(np.isfinite(target)):
        raise G1KinematicsError(
            "input", f"target must be a finite 4x4 matrix, got shape {target.shape}"
        )
    if start.shape != (NUM_ARM_JOINTS,) or not np.all(np.isfinite(start)):
        raise G1KinematicsError(
            "input", f"seed must be 7 finite joint angles, got {start.tolist()}"
        )
    check_reach(chain, target[:3, 3], opts)
    tip = chain.T_wrist_from_palm @ T_palm_from_tcp(
        opts.tcp_offset_m, opts.tcp_lateral_m, chain.side
    )
    lower = chain.lower + opts.limit_margin_rad
    upper = chain.upper - opts.limit_margin_rad
    # Orientation counts fully while it is outside half its tolerance, then fades, so position
    # wins once the orientation is good enough (a pose at the edge of the 6-D workspace).
    soft_rot = 0.5 * opts.orientation_tolerance_rad
    rng = np.random.default_rng(7)
    seeds = [np.clip(start, lower, upper)]
    seeds += [rng.uniform(lower, upper) for _ in range(opts.restarts)]
    best: tuple[float, FloatArray, float, float] | None = None
    iterations = 0
    for q0 in seeds:
        q = q0.copy()
        for _ in range(opts.max_iterations):
            iterations += 1
            T, positions, axes = _forward(chain, q, tip)
            e_pos, e_rot = _errors(T, target)
            pos_err, rot_err = float(np.linalg.norm(e_pos)), float(np.linalg.norm(e_rot))
            if pos_err <= opts.position_tolerance_m * 0.5 and (
                opts.orientation_weight == 0.0 or rot_err <= opts.orientation_tolerance_rad * 0.5
            ):
                break
            w_rot = opts.orientation_weight * min(1.0, rot_err / soft_rot)
            weights = np.array([1.0, 1.0, 1.0, w_rot, w_rot, w_rot])
            J = np.vstack([np.cross(axes, T[:3, 3] - positions).T, axes.T]) * weights[:, None]
            e = np.concatenate([e_pos, e_rot]) * weights
            JJt = J @ J.T + (opts.damping**2) * np.eye(6)
            dq = J.T @ np.linalg.solve(JJt, e)
            largest = float(np.max(np.abs(dq)))
            if largest > opts.max_step_rad:
                dq *= opts.max_step_rad / largest
            q = np.clip(q + dq, lower, upper)
        T = _forward(chain, q, tip)[0]
        e_pos, e_rot = _errors(T, target)
        pos_err, rot_err = float(np.linalg.norm(e_pos)), float(np.linalg.norm(e_rot))
        ok = pos_err <= opts.position_tolerance_m and (
            opts.orientation_weight == 0.0 or rot_err <= opts.orientation_tolerance_rad
        )
        if ok:
            return IkSolution(q, pos_err, rot_err, iterations)
        score = pos_err + 0.05 * rot_err
        if best is None or score < best[0]:
            best = (score, q, pos_err, rot_err)
    assert best is not None
    p = target[:3, 3]
    raise G1KinematicsError(
        "ik",
        f"no IK solution for the {chain.side.value} arm at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) "
        f"in {BASE_FRAME}: best residual {best[2] * 1000:.1f} mm / {best[3]:.3f} rad "
        f"(tolerance {opts.position_tolerance_m * 1000:.1f} mm / "
        f"{opts.orientation_tolerance_rad:.3f} rad) after {len(seeds)} seeds",
    )
