"""G1 arm kinematics from the example-robot-data URDF: chains, limits, FK, IK round trips."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.manipulation.g1.kinematics import (
    ARM_JOINTS,
    DOCUMENTED_LIMITS_RAD,
    ArmChain,
    ArmSide,
    G1KinematicsError,
    IkOptions,
    find_g1_urdf,
    forward_kinematics,
    load_arm_chain,
    load_waist_chain,
    rotation_log,
    solve_ik,
)

CHAINS = {side: load_arm_chain(side) for side in ArmSide}
SAMPLES = 150


def _random_in_limits(chain: ArmChain, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(chain.lower + 0.03, chain.upper - 0.03)


def test_the_urdf_is_found_in_the_installed_package() -> None:
    path = find_g1_urdf()
    assert path.name == "g1_29dof_with_hand_rev_1_0.urdf"
    assert "example-robot-data" in str(path)


def test_a_missing_urdf_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROBOREFER_G1_URDF", str(tmp_path / "nope.urdf"))
    with pytest.raises(G1KinematicsError, match=r"ROBOREFER_G1_URDF=.*nope\.urdf.*is not a file"):
        find_g1_urdf()
    with pytest.raises(G1KinematicsError, match="cannot read G1 URDF"):
        load_arm_chain(ArmSide.LEFT, tmp_path / "nope.urdf")


@pytest.mark.parametrize("side", list(ArmSide))
def test_chain_joints_and_limits(side: ArmSide) -> None:
    chain = CHAINS[side]
    assert chain.joint_names == tuple(f"{side.value}_{j}_joint" for j in ARM_JOINTS)
    assert chain.palm_link == f"{side.value}_hand_palm_link"
    documented = np.array(DOCUMENTED_LIMITS_RAD[side])
    # intersection: never wider than the documented limits
    assert np.all(chain.lower >= documented[:, 0]) and np.all(chain.upper <= documented[:, 1])
    assert np.all(chain.lower < chain.upper)
    # shoulders at (0.004, +-0.100, 0.248) in torso_link (robots.md)
    sign = 1.0 if side is ArmSide.LEFT else -1.0
    np.testing.assert_allclose(chain.shoulder_position, [0.004, sign * 0.100, 0.248], atol=0.001)
    assert 0.40 < chain.max_reach_m < 0.47


def test_arms_are_mirror_images() -> None:
    rng = np.random.default_rng(3)
    mirror = np.array([1, -1, -1, 1, -1, 1, -1])  # pitch joints keep their sign
    for _ in range(20):
        q = _random_in_limits(CHAINS[ArmSide.LEFT], rng)
        q_right = np.clip(q * mirror, CHAINS[ArmSide.RIGHT].lower, CHAINS[ArmSide.RIGHT].upper)
        q_left = q_right * mirror
        left = forward_kinematics(CHAINS[ArmSide.LEFT], q_left, 0.1)[:3, 3]
        right = forward_kinematics(CHAINS[ArmSide.RIGHT], q_right, 0.1)[:3, 3]
        np.testing.assert_allclose(left * [1, -1, 1], right, atol=0.002)


def test_arm_choice_by_the_sign_of_y() -> None:
    assert ArmSide.for_target(0.2) is ArmSide.LEFT
    assert ArmSide.for_target(-0.01) is ArmSide.RIGHT
    assert ArmSide.LEFT.motor_slots == tuple(range(15, 22))
    assert ArmSide.RIGHT.motor_slots == tuple(range(22, 29))


def test_rotation_log_round_trip() -> None:
    from roborefer_ros.manipulation.g1.kinematics import axis_angle_matrix

    rng = np.random.default_rng(0)
    for angle in (0.0, 1e-7, 0.3, 2.0, np.pi - 1e-8, np.pi):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        vector = rotation_log(axis_angle_matrix(axis, angle))
        assert np.linalg.norm(vector) == pytest.approx(angle, abs=1e-6)
        if angle > 0.1:
            assert abs(abs(vector @ axis) - angle) < 1e-6


@pytest.mark.parametrize("side", list(ArmSide))
@pytest.mark.parametrize("orientation_weight", [0.3, 0.0], ids=["pose", "position"])
def test_ik_round_trip_within_5_mm(side: ArmSide, orientation_weight: float) -> None:
    """FK of random in-limit joints -> IK (seeded from zero) -> FK: within 5 mm."""
    chain = CHAINS[side]
    options = IkOptions(orientation_weight=orientation_weight)
    rng = np.random.default_rng(11 if side is ArmSide.LEFT else 12)
    errors, failures, times = [], 0, []
    for _ in range(SAMPLES):
        T = forward_kinematics(chain, _random_in_limits(chain, rng), options.tcp_offset_m)
        started = time.perf_counter()
        try:
            solution = solve_ik(chain, T, np.zeros(7), options)
        except G1KinematicsError as err:
            assert err.reason == "ik"
            failures += 1
            continue
        times.append(time.perf_counter() - started)
        assert chain.within_limits(solution.q)
        reached = forward_kinematics(chain, solution.q, options.tcp_offset_m)
        errors.append(float(np.linalg.norm(reached[:3, 3] - T[:3, 3])))
        if orientation_weight > 0:
            angle = np.linalg.norm(rotation_log(reached[:3, :3] @ T[:3, :3].T))
            assert angle <= options.orientation_tolerance_rad + 1e-9
    assert max(errors) < 0.005
    # position-only IK always converges; a full pose at the edge of the workspace may not
    assert failures <= (0 if orientation_weight == 0 else SAMPLES // 30)
    print(
        f"{side.value} w={orientation_weight}: max {max(errors) * 1000:.2f} mm, "
        f"median solve {np.median(times) * 1000:.1f} ms, max {max(times) * 1000:.0f} ms, "
        f"{failures} failures"
    )


def test_ik_seeded_near_the_answer_stays_near_it() -> None:
    chain = CHAINS[ArmSide.LEFT]
    q = np.array([-0.3, 0.1, 0.1, 1.2, -0.1, -0.9, -0.1])
    T = forward_kinematics(chain, q, 0.1)
    solution = solve_ik(chain, T, q + 0.05, IkOptions())
    assert np.max(np.abs(solution.q - q)) < 0.1
    assert solution.iterations < 50


def test_out_of_reach_names_the_distance() -> None:
    chain = CHAINS[ArmSide.LEFT]
    T = np.eye(4)
    T[:3, 3] = [0.9, 0.1, 0.25]
    with pytest.raises(G1KinematicsError, match=r"0\.896 m from the left shoulder") as info:
        solve_ik(chain, T, np.zeros(7))
    assert info.value.reason == "reach"


def test_unreachable_orientation_is_an_ik_error() -> None:
    chain = CHAINS[ArmSide.LEFT]
    T = np.eye(4)  # TCP pointing up (+z) just in front of the shoulder: the wrist cannot
    T[:3, :3] = [[0, 0, -1], [0, 1, 0], [1, 0, 0]]
    T[:3, 3] = [0.05, 0.1, 0.25]
    with pytest.raises(G1KinematicsError, match="no IK solution for the left arm") as info:
        solve_ik(chain, T, np.zeros(7), IkOptions(orientation_tolerance_rad=0.01, restarts=2))
    assert info.value.reason == "ik"


def test_bad_inputs() -> None:
    chain = CHAINS[ArmSide.LEFT]
    with pytest.raises(G1KinematicsError, match="shape"):
        forward_kinematics(chain, np.zeros(6))
    with pytest.raises(G1KinematicsError, match="seed must be 7 finite"):
        solve_ik(chain, np.eye(4), [np.nan] * 7)
    with pytest.raises(ValueError, match="position_tolerance_m"):
        IkOptions(position_tolerance_m=0.0)


def test_the_waist_turns_the_torso_about_the_pelvis_vertical() -> None:
    waist = load_waist_chain()
    assert waist.yaw_limits == pytest.approx((-2.618, 2.618))
    rest = np.zeros(3)
    # torso_link sits 4.4 cm above the yaw axis and 4 mm behind it (URDF waist origins)
    axis_point = np.linalg.inv(waist.T_pelvis_from_torso(rest)) @ np.array([0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(axis_point[:3], [0.0039635, 0.0, -0.044], atol=1e-6)
    for yaw in (0.3, -0.5):
        turn = waist.torso_turn(rest, [yaw, 0.0, 0.0])
        # a target fixed to the pelvis appears turned the other way, about the same vertical
        np.testing.assert_allclose(turn[:3, 2], [0.0, 0.0, 1.0], atol=1e-12)
        assert float(np.arctan2(turn[1, 0], turn[0, 0])) == pytest.approx(-yaw)
        np.testing.assert_allclose(turn @ axis_point, axis_point, atol=1e-12)
        target = np.array([0.35, 0.1, -0.05, 1.0])
        moved = turn @ target
        assert moved[2] == pytest.approx(target[2])
        radius = np.hypot(*(target[:2] - axis_point[:2]))
        assert np.hypot(*(moved[:2] - axis_point[:2])) == pytest.approx(radius)
        back = waist.torso_turn([yaw, 0.0, 0.0], rest)
        np.testing.assert_allclose(back @ turn, np.eye(4), atol=1e-12)
    with pytest.raises(G1KinematicsError, match="waist angles"):
        waist.T_pelvis_from_torso([0.0, 0.0])
