"""Transform maths checked against 4x4 matrices composed by hand with numpy."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roborefer_ros.core.transforms import (
    Transform,
    interpolate,
    matrix_to_quat,
    quat_from_axes,
    quat_multiply,
    quat_to_matrix,
    slerp,
)

Mat = npt.NDArray[np.float64]


def rot_x(a: float) -> Mat:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def rot_y(a: float) -> Mat:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def rot_z(a: float) -> Mat:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def hom(R: Mat, t: tuple[float, float, float]) -> Mat:
    m = np.eye(4)
    m[:3, :3] = R
    m[:3, 3] = t
    return m


def same_rotation(q1: tuple[float, ...], q2: tuple[float, ...]) -> bool:
    return bool(np.allclose(q1, q2, atol=1e-9) or np.allclose(q1, [-c for c in q2], atol=1e-9))


unit_quats = (
    st.tuples(*[st.floats(-1.0, 1.0, allow_nan=False)] * 4)
    .filter(lambda q: float(np.linalg.norm(q)) > 0.1)
    .map(lambda q: tuple(float(c) for c in np.asarray(q) / np.linalg.norm(q)))
)
translations = st.tuples(*[st.floats(-10.0, 10.0, allow_nan=False)] * 3)


def test_quat_to_matrix_matches_hand_rotation_about_z() -> None:
    half = math.pi / 4
    R = quat_to_matrix((0.0, 0.0, math.sin(half), math.cos(half)))
    np.testing.assert_allclose(R, rot_z(math.pi / 2), atol=1e-12)


def test_quat_multiply_applies_right_factor_first() -> None:
    qx = matrix_to_quat(rot_x(0.3))
    qz = matrix_to_quat(rot_z(1.1))
    R = quat_to_matrix(quat_multiply(qz, qx))
    np.testing.assert_allclose(R, rot_z(1.1) @ rot_x(0.3), atol=1e-12)


@pytest.mark.parametrize(
    "R",
    [
        rot_x(math.pi),  # trace = -1: the R00 pivot
        rot_y(math.pi),  # the R11 pivot
        rot_z(math.pi),  # the R22 pivot
        rot_x(math.pi) @ rot_z(math.pi / 2),
        rot_z(0.2) @ rot_y(-0.7) @ rot_x(2.9),
        np.eye(3),
    ],
)
def test_matrix_to_quat_round_trips_every_shepperd_branch(R: Mat) -> None:
    q = matrix_to_quat(R)
    assert q[3] >= 0.0
    assert math.isclose(float(np.linalg.norm(q)), 1.0, rel_tol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q), R, atol=1e-12)


def test_matrix_to_quat_rejects_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"\(3, 3\).*\(4, 4\)"):
        matrix_to_quat(np.eye(4))


@pytest.mark.parametrize(
    ("quat", "fragment"),
    [((0.0, 0.0, 0.0, 0.0), "non-zero"), ((0.0, math.nan, 0.0, 1.0), "finite")],
)
def test_transform_rejects_bad_quaternion_naming_it(
    quat: tuple[float, float, float, float], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment) as info:
        Transform((0.0, 0.0, 0.0), quat)
    assert "0.0" in str(info.value)


def test_transform_rejects_non_finite_translation() -> None:
    with pytest.raises(ValueError, match="translation must be finite"):
        Transform((0.0, math.inf, 0.0))


def test_transform_normalises_quaternion() -> None:
    T = Transform((1.0, 2.0, 3.0), (0.0, 0.0, 0.0, 2.0))
    assert T.quat_xyzw == (0.0, 0.0, 0.0, 1.0)
    np.testing.assert_allclose(T.as_matrix(), hom(np.eye(3), (1.0, 2.0, 3.0)))


def test_identity_is_neutral() -> None:
    T = Transform((0.1, -0.2, 0.3), matrix_to_quat(rot_y(0.4)))
    np.testing.assert_allclose((Transform.identity() @ T).as_matrix(), T.as_matrix())
    np.testing.assert_allclose(Transform.identity().as_matrix(), np.eye(4))


def test_from_matrix_as_matrix_round_trip() -> None:
    m = hom(rot_z(0.5) @ rot_x(-1.2), (0.4, 0.5, -0.6))
    np.testing.assert_allclose(Transform.from_matrix(m).as_matrix(), m, atol=1e-12)


def test_compose_matches_matrix_product_and_maps_points() -> None:
    m_a_from_b = hom(rot_z(math.pi / 2), (1.0, 0.0, 0.0))
    m_b_from_c = hom(rot_x(math.pi / 2), (0.0, 2.0, 0.0))
    T_a_from_c = Transform.from_matrix(m_a_from_b) @ Transform.from_matrix(m_b_from_c)
    np.testing.assert_allclose(T_a_from_c.as_matrix(), m_a_from_b @ m_b_from_c, atol=1e-12)
    # (0, 0, 1) in c -> rot_x(90) -> (0, -1, 0) + (0, 2, 0) = (0, 1, 0) in b
    # -> rot_z(90) -> (-1, 0, 0) + (1, 0, 0) = (0, 0, 0) in a.
    np.testing.assert_allclose(T_a_from_c.apply((0.0, 0.0, 1.0)), [0.0, 0.0, 0.0], atol=1e-12)
    assert T_a_from_c.compose(Transform.identity()) == T_a_from_c


def test_apply_handles_point_arrays() -> None:
    T = Transform((1.0, 2.0, 3.0), matrix_to_quat(rot_z(math.pi / 2)))
    pts = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    out = T.apply(pts)
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out, [[1.0, 3.0, 3.0], [0.0, 2.0, 3.0], [1.0, 2.0, 3.0]], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        T.apply(np.zeros((2, 2)))


def test_rotate_ignores_translation() -> None:
    T = Transform((5.0, 5.0, 5.0), matrix_to_quat(rot_x(math.pi / 2)))
    np.testing.assert_allclose(T.rotate((0.0, 1.0, 0.0)), [0.0, 0.0, 1.0], atol=1e-12)


def test_inverse_matches_matrix_inverse() -> None:
    m = hom(rot_y(0.7) @ rot_z(-0.3), (0.2, -1.0, 3.0))
    np.testing.assert_allclose(
        Transform.from_matrix(m).inverse().as_matrix(), np.linalg.inv(m), atol=1e-12
    )


def test_slerp_endpoints_and_midpoint() -> None:
    q0 = (0.0, 0.0, 0.0, 1.0)
    q1 = matrix_to_quat(rot_z(math.pi / 2))
    assert same_rotation(slerp(q0, q1, 0.0), q0)
    assert same_rotation(slerp(q0, q1, 1.0), q1)
    np.testing.assert_allclose(quat_to_matrix(slerp(q0, q1, 0.5)), rot_z(math.pi / 4), atol=1e-12)


def test_slerp_takes_shortest_path() -> None:
    q0 = (0.0, 0.0, 0.0, 1.0)
    q1 = matrix_to_quat(rot_z(math.pi / 2))
    q1_flipped = tuple(-c for c in q1)  # same rotation, other hemisphere
    mid = slerp(q0, q1_flipped, 0.5)
    np.testing.assert_allclose(quat_to_matrix(mid), rot_z(math.pi / 4), atol=1e-12)


def test_slerp_near_parallel_is_finite_and_between() -> None:
    q0 = matrix_to_quat(rot_z(1e-9))
    q1 = matrix_to_quat(rot_z(2e-9))
    q = slerp(q0, q1, 0.5)
    assert all(math.isfinite(c) for c in q)
    np.testing.assert_allclose(quat_to_matrix(q), rot_z(1.5e-9), atol=1e-12)


def test_interpolate_lerps_translation_and_slerps_rotation() -> None:
    T0 = Transform((0.0, 0.0, 0.0))
    T1 = Transform((2.0, -4.0, 6.0), matrix_to_quat(rot_x(math.pi / 2)))
    mid = interpolate(T0, T1, 0.25)
    np.testing.assert_allclose(mid.translation, (0.5, -1.0, 1.5))
    np.testing.assert_allclose(mid.rotation_matrix(), rot_x(math.pi / 8), atol=1e-12)


def test_quat_from_axes_sets_z_and_closest_x() -> None:
    z_axis = np.array([0.0, 0.0, -1.0])
    R = quat_to_matrix(quat_from_axes(z_axis, x_hint=(1.0, 1.0, 0.5)))
    np.testing.assert_allclose(R[:, 2], z_axis, atol=1e-12)
    np.testing.assert_allclose(R[:, 0], np.array([1.0, 1.0, 0.0]) / math.sqrt(2), atol=1e-12)
    assert math.isclose(float(np.linalg.det(R)), 1.0, rel_tol=1e-12)


def test_quat_from_axes_falls_back_when_hint_is_parallel() -> None:
    R = quat_to_matrix(quat_from_axes((1.0, 0.0, 0.0), x_hint=(2.0, 0.0, 0.0)))
    np.testing.assert_allclose(R[:, 2], [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(R[:, 0], [0.0, 1.0, 0.0], atol=1e-12)  # world y is the fallback
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)


def test_quat_from_axes_rejects_zero_axis() -> None:
    with pytest.raises(ValueError, match="z_axis must be non-zero"):
        quat_from_axes((0.0, 0.0, 0.0))


@given(unit_quats)
def test_property_matrix_quat_round_trip(q: tuple[float, float, float, float]) -> None:
    R = quat_to_matrix(q)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert same_rotation(matrix_to_quat(R), q)


@given(unit_quats, translations)
def test_property_inverse_composes_to_identity(
    q: tuple[float, float, float, float], t: tuple[float, float, float]
) -> None:
    T = Transform(t, q)
    np.testing.assert_allclose((T @ T.inverse()).as_matrix(), np.eye(4), atol=1e-9)
    np.testing.assert_allclose((T.inverse() @ T).as_matrix(), np.eye(4), atol=1e-9)


@given(unit_quats, unit_quats, st.floats(0.0, 1.0))
def test_property_slerp_stays_unit_and_on_the_short_arc(
    q0: tuple[float, float, float, float], q1: tuple[float, float, float, float], t: float
) -> None:
    q = slerp(q0, q1, t)
    assert math.isclose(float(np.linalg.norm(q)), 1.0, rel_tol=1e-9)

    def angle(a: tuple[float, ...], b: tuple[float, ...]) -> float:
        return 2 * math.acos(min(abs(float(np.dot(a, b))), 1.0))

    # q lies on the arc: angle(q0, q) + angle(q, q1) == angle(q0, q1)
    assert math.isclose(angle(q0, q) + angle(q, q1), angle(q0, q1), abs_tol=1e-6)
