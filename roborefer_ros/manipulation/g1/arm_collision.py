"""The G1 arm as spheres, and joint paths checked against a height map (ROS-free).

The spheres follow the links from the URDF's joint origins (``kinematics.joint_frames``) with
radii that cover the G1's collision meshes (half-widths: upper arm and forearm 3.7 cm, wrist
3.3 cm, Dex3 palm 4.4 cm): the upper arm from the shoulder yaw joint to the elbow, the forearm
to the wrist roll joint, the wrist to the palm; the Dex3's palm, its two fingers and its thumb
where the open hand has them in the TCP frame. A hand that holds an object (between CLOSE and
OPEN) carries it around the TCP: a sphere there, and one at the object's bottom.

A MOVE runs as a straight line in joint space (the arm_sdk streamer scales every joint's step so
that they arrive together), so a segment from ``q_a`` to ``q_b`` is checked at joint states no
more than ``step_rad`` apart along that line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from roborefer_ros.manipulation.g1.kinematics import ArmChain, ArmSide, joint_frames
from roborefer_ros.manipulation.obstacles import HeightMap

FloatArray = npt.NDArray[np.float64]

_ELBOW, _WRIST_ROLL, _SHOULDER_YAW = 3, 4, 2


@dataclass(frozen=True)
class ArmBodyModel:
    """Sphere radii (m) per part; the Dex3's parts in the TCP frame (x: the palm's normal,
    y: towards the thumb, z: the approach, along the fingers), measured on the G1 URDF's
    collision meshes of the open left hand (y is mirrored for the right one); how the TCP sits
    in the palm (the IK's offsets). Every mesh vertex of the forearm, wrist and hand lies
    within 5 mm of a sphere (test_arm_collision)."""

    tcp_offset_m: float = 0.06
    tcp_lateral_m: float = 0.045
    upper_arm_m: float = 0.04
    forearm_m: float = 0.04
    wrist_m: float = 0.037
    palm_centre_tcp: tuple[float, float, float] = (0.0, -0.046, -0.018)
    palm_m: float = 0.05
    fingers_tcp: tuple[tuple[float, float, float], tuple[float, float, float]] = (
        (0.0, -0.047, 0.03),
        (0.0, -0.047, 0.11),
    )
    finger_m: float = 0.042  # index and middle side by side
    thumb_tcp: tuple[tuple[float, float, float], tuple[float, float, float]] = (
        (0.0, -0.031, -0.036),
        (0.0, 0.062, -0.037),
    )
    thumb_m: float = 0.025
    held_m: float = 0.04  # a held object's horizontal half-width, assumed
    # the held object's centre this far from the TCP towards the thumb (a wide grip's grasp
    # point, moved off the palm by the bridge; the hand's own parts stay where they are)
    held_lateral_m: float = 0.0
    step_rad: float = 0.05  # joint-space sampling of a segment


def _segment(a: FloatArray, b: FloatArray, radius: float) -> list[tuple[FloatArray, float]]:
    length = float(np.linalg.norm(b - a))
    count = max(1, math.ceil(length / (0.8 * radius)))
    return [(a + (b - a) * (k / count), radius) for k in range(count + 1)]


def arm_spheres(
    chain: ArmChain,
    q: npt.ArrayLike,
    model: ArmBodyModel,
    held_half_height_m: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(centres (N, 3), radii (N,)) in torso_link of the arm at ``q``; with
    ``held_half_height_m`` the hand holds an object of that half height at its TCP."""
    T_tcp, joints = joint_frames(chain, q, model.tcp_offset_m, model.tcp_lateral_m)

    mirror = np.array([1.0, 1.0 if chain.side is ArmSide.LEFT else -1.0, 1.0])

    def at(point_tcp: tuple[float, float, float]) -> FloatArray:
        placed: FloatArray = T_tcp[:3, :3] @ (np.asarray(point_tcp) * mirror) + T_tcp[:3, 3]
        return placed

    palm = at(model.palm_centre_tcp)
    parts = (
        _segment(joints[_SHOULDER_YAW], joints[_ELBOW], model.upper_arm_m)
        + _segment(joints[_ELBOW], joints[_WRIST_ROLL], model.forearm_m)
        + _segment(joints[_WRIST_ROLL], palm, model.wrist_m)
        + [(palm, model.palm_m)]
        + _segment(at(model.fingers_tcp[0]), at(model.fingers_tcp[1]), model.finger_m)
        + _segment(at(model.thumb_tcp[0]), at(model.thumb_tcp[1]), model.thumb_m)
    )
    if held_half_height_m is not None:
        held = at((0.0, model.held_lateral_m, 0.0))  # the object's centre (at the TCP or beside)
        down = np.array([0.0, 0.0, -1.0])
        parts += [(held, model.held_m), (held + down * held_half_height_m, model.held_m)]
    centres = np.stack([c for c, _ in parts])
    radii = np.array([r for _, r in parts])
    return centres, radii


def joint_path(q_a: FloatArray, q_b: FloatArray, step_rad: float) -> list[FloatArray]:
    """Joint states from ``q_a`` to ``q_b`` (both included) on the straight line between them,
    no joint moving more than ``step_rad`` between neighbours."""
    largest = float(np.max(np.abs(q_b - q_a)))
    count = max(1, math.ceil(largest / step_rad))
    return [q_a + (q_b - q_a) * (k / count) for k in range(count + 1)]


def waypoint_path(
    q_start: FloatArray, waypoints: Sequence[FloatArray], step_rad: float
) -> list[FloatArray]:
    """Joint states along the joint-space lines from ``q_start`` through ``waypoints`` in turn
    (``joint_path`` between neighbours; empty without waypoints)."""
    states: list[FloatArray] = []
    q_prev = q_start
    for waypoint in waypoints:
        states += joint_path(q_prev, waypoint, step_rad)
        q_prev = waypoint
    return states


def path_penetration(
    chain: ArmChain,
    states: list[FloatArray],
    obstacles: HeightMap,
    model: ArmBodyModel,
    held_half_height_m: float | None = None,
    T_map_from_torso: FloatArray | None = None,
) -> float:
    """The deepest intrusion (m) of the height map into the arm over these joint states;
    ``T_map_from_torso``: the map's frame from the arm's base (None: the same frame)."""
    if not states:
        return 0.0
    spheres = [arm_spheres(chain, q, model, held_half_height_m) for q in states]
    centres = np.concatenate([c for c, _ in spheres])
    if T_map_from_torso is not None:
        centres = centres @ T_map_from_torso[:3, :3].T + T_map_from_torso[:3, 3]
    radii = np.concatenate([r for _, r in spheres])
    depth = obstacles.penetration(centres, radii)
    return float(depth.max()) if depth.size else 0.0
