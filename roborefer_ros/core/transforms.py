"""Rigid transforms and quaternion maths, ROS-free, so TF logic can be unit-tested without a graph.

Conventions: quaternions are Hamilton, ordered ``quat_xyzw`` like geometry_msgs; a ``Transform``
named ``T_a_from_b`` maps points expressed in frame ``b`` into frame ``a`` (it is the pose of ``b``
in ``a``), so chains read right to left: ``T_a_from_c = T_a_from_b @ T_b_from_c``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vec3 = tuple[float, float, float]
QuatXYZW = tuple[float, float, float, float]
FloatArray = npt.NDArray[np.float64]

# Below this norm a vector is treated as zero / two unit vectors as parallel.
_EPS = 1e-9
# Above this |cos| two quaternions are close enough that linear interpolation is exact enough.
_SLERP_LINEAR_COS = 0.9995


def _as_vec3(value: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (3,):
        raise ValueError(f"{name} must have shape (3,), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    return arr


def normalize_quat(quat_xyzw: npt.ArrayLike) -> QuatXYZW:
    """Return the unit quaternion; raise ValueError for a zero or non-finite one (no silent I)."""
    q = np.asarray(quat_xyzw, dtype=np.float64)
    if q.shape != (4,):
        raise ValueError(f"quat_xyzw must have shape (4,), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError(f"quat_xyzw must be finite, got {q.tolist()}")
    norm = float(np.linalg.norm(q))
    if norm < _EPS:
        raise ValueError(f"quat_xyzw must be non-zero, got {q.tolist()}")
    x, y, z, w = (q / norm).tolist()
    return (x, y, z, w)


def quat_multiply(q1_xyzw: npt.ArrayLike, q2_xyzw: npt.ArrayLike) -> QuatXYZW:
    """Hamilton product ``q1 * q2``: rotating by the result = rotate by q2, then by q1."""
    x1, y1, z1, w1 = np.asarray(q1_xyzw, dtype=np.float64).tolist()
    x2, y2, z2, w2 = np.asarray(q2_xyzw, dtype=np.float64).tolist()
    return (
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
    )


def quat_to_matrix(quat_xyzw: npt.ArrayLike) -> FloatArray:
    """3x3 float64 rotation matrix of a quaternion (normalised first)."""
    x, y, z, w = normalize_quat(quat_xyzw)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ],
        dtype=np.float64,
    )


def matrix_to_quat(rotation: npt.ArrayLike) -> QuatXYZW:
    """Quaternion of a 3x3 rotation matrix by Shepperd's method.

    Shepperd picks the largest of (trace, R00, R11, R22) as pivot so the square root is never
    taken of a near-zero number; naive trace-only formulas lose precision near 180 degrees.
    The sign is fixed so that ``w >= 0`` (q and -q are the same rotation).
    """
    R = np.asarray(rotation, dtype=np.float64)
    if R.shape != (3, 3):
        raise ValueError(f"rotation must have shape (3, 3), got {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError(f"rotation must be finite, got {R.tolist()}")
    trace = float(R[0, 0] + R[1, 1] + R[2, 2])
    pivot = int(np.argmax([trace, R[0, 0], R[1, 1], R[2, 2]]))
    if pivot == 0:
        s = 2.0 * math.sqrt(max(1.0 + trace, 0.0))
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    elif pivot == 1:
        s = 2.0 * math.sqrt(max(1.0 + R[0, 0] - R[1, 1] - R[2, 2], 0.0))
        q = [s / 4, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif pivot == 2:
        s = 2.0 * math.sqrt(max(1.0 - R[0, 0] + R[1, 1] - R[2, 2], 0.0))
        q = [(R[0, 1] + R[1, 0]) / s, s / 4, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * math.sqrt(max(1.0 - R[0, 0] - R[1, 1] + R[2, 2], 0.0))
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, s / 4, (R[1, 0] - R[0, 1]) / s]
    if q[3] < 0.0:
        q = [-c for c in q]
    return normalize_quat(q)


def slerp(q0_xyzw: npt.ArrayLike, q1_xyzw: npt.ArrayLike, t: float) -> QuatXYZW:
    """Spherical interpolation along the shortest arc; t=0 gives q0, t=1 gives q1 (up to sign).

    Nearly parallel inputs fall back to normalised linear interpolation, where sin(theta) would
    divide by almost zero.
    """
    q0 = np.asarray(normalize_quat(q0_xyzw))
    q1 = np.asarray(normalize_quat(q1_xyzw))
    dot = float(np.dot(q0, q1))
    if dot < 0.0:  # q and -q are the same rotation; flip to take the short way round
        q1 = -q1
        dot = -dot
    if dot > _SLERP_LINEAR_COS:
        return normalize_quat(q0 + t * (q1 - q0))
    theta = math.acos(min(dot, 1.0))
    sin_theta = math.sin(theta)
    w0 = math.sin((1.0 - t) * theta) / sin_theta
    w1 = math.sin(t * theta) / sin_theta
    return normalize_quat(w0 * q0 + w1 * q1)


def quat_from_axes(z_axis: npt.ArrayLike, x_hint: npt.ArrayLike = (1.0, 0.0, 0.0)) -> QuatXYZW:
    """Orientation of a right-handed frame whose z axis is ``z_axis``.

    Its x axis is ``x_hint`` projected onto the plane normal to z (the closest admissible
    direction). If the hint is (nearly) parallel to z, world x is used, or world y if that is
    parallel too, so the result is always defined — useful for grasp frames along a normal.
    """
    z = _as_vec3(z_axis, "z_axis")
    z_norm = float(np.linalg.norm(z))
    if z_norm < _EPS:
        raise ValueError(f"z_axis must be non-zero, got {z.tolist()}")
    z = z / z_norm
    for hint in (_as_vec3(x_hint, "x_hint"), np.array([1.0, 0, 0]), np.array([0.0, 1, 0])):
        x = hint - float(np.dot(hint, z)) * z
        x_norm = float(np.linalg.norm(x))
        if x_norm > 1e-6:
            break
    x = x / x_norm
    y = np.cross(z, x)
    return matrix_to_quat(np.column_stack([x, y, z]))


@dataclass(frozen=True)
class Transform:
    """A rigid transform ``T_target_from_source``: the pose of the source frame in the target.

    ``translation`` in metres; ``quat_xyzw`` is normalised on construction.
    """

    translation: Vec3 = (0.0, 0.0, 0.0)
    quat_xyzw: QuatXYZW = (0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        t = _as_vec3(self.translation, "translation").tolist()
        object.__setattr__(self, "translation", (t[0], t[1], t[2]))
        object.__setattr__(self, "quat_xyzw", normalize_quat(self.quat_xyzw))

    @classmethod
    def identity(cls) -> Transform:
        return cls()

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike) -> Transform:
        """Build from a 4x4 homogeneous matrix (the rotation block must be a rotation)."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape != (4, 4):
            raise ValueError(f"matrix must have shape (4, 4), got {m.shape}")
        x, y, z = m[:3, 3].tolist()
        return cls((x, y, z), matrix_to_quat(m[:3, :3]))

    def rotation_matrix(self) -> FloatArray:
        """3x3 float64 rotation block."""
        return quat_to_matrix(self.quat_xyzw)

    def as_matrix(self) -> FloatArray:
        """4x4 float64 homogeneous matrix."""
        m = np.eye(4, dtype=np.float64)
        m[:3, :3] = self.rotation_matrix()
        m[:3, 3] = self.translation
        return m

    def inverse(self) -> Transform:
        """``T_b_from_a`` given ``T_a_from_b``."""
        x, y, z, w = self.quat_xyzw
        q_inv: QuatXYZW = (-x, -y, -z, w)
        t = -(quat_to_matrix(q_inv) @ np.asarray(self.translation))
        return Transform((float(t[0]), float(t[1]), float(t[2])), q_inv)

    def compose(self, other: Transform) -> Transform:
        """``T_a_from_c = T_a_from_b.compose(T_b_from_c)``."""
        t = self.rotation_matrix() @ np.asarray(other.translation) + np.asarray(self.translation)
        q = quat_multiply(self.quat_xyzw, other.quat_xyzw)
        return Transform((float(t[0]), float(t[1]), float(t[2])), q)

    def __matmul__(self, other: Transform) -> Transform:
        return self.compose(other)

    def apply(self, points: npt.ArrayLike) -> FloatArray:
        """Map point(s) from source to target frame; shape (3,) or (N, 3) in, same shape out."""
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1:] != (3,) or p.ndim > 2:
            raise ValueError(f"points must have shape (3,) or (N, 3), got {p.shape}")
        mapped: FloatArray = p @ self.rotation_matrix().T + np.asarray(self.translation)
        return mapped

    def rotate(self, vectors: npt.ArrayLike) -> FloatArray:
        """Rotate direction(s) without translating (normals, axes); shape (3,) or (N, 3)."""
        v = np.asarray(vectors, dtype=np.float64)
        if v.shape[-1:] != (3,) or v.ndim > 2:
            raise ValueError(f"vectors must have shape (3,) or (N, 3), got {v.shape}")
        rotated: FloatArray = v @ self.rotation_matrix().T
        return rotated


def interpolate(T0: Transform, T1: Transform, t: float) -> Transform:
    """Blend two transforms: linear translation, slerp rotation (what tf2 does between samples)."""
    p = (1.0 - t) * np.asarray(T0.translation) + t * np.asarray(T1.translation)
    return Transform((float(p[0]), float(p[1]), float(p[2])), slerp(T0.quat_xyzw, T1.quat_xyzw, t))
