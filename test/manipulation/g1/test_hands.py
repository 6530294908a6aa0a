"""Dex3 hand commands: the mode byte, gains, open/close targets within the URDF limits; the
closure a HandState is read by (an empty grasp)."""

from __future__ import annotations

import numpy as np
import pytest

from roborefer_ros.manipulation.g1.hands import (
    NUM_HAND_MOTORS,
    HandConfig,
    close_targets,
    closed_on_nothing,
    closure,
    dex3_mode,
    hand_command,
    load_hand_limits,
    open_targets,
)
from roborefer_ros.manipulation.g1.kinematics import ArmSide


def test_mode_bits() -> None:
    assert dex3_mode(0) == 0b0001_0000  # status 1 in bits 4-6
    assert dex3_mode(6) == 0x16
    assert dex3_mode(3, timeout=True) == 3 | 1 << 4 | 1 << 7
    for motor in range(NUM_HAND_MOTORS):
        mode = dex3_mode(motor, timeout=True)
        assert mode & 0x0F == motor and (mode >> 4) & 0x07 == 1 and mode >> 7 == 1
    with pytest.raises(ValueError, match="id must be in"):
        dex3_mode(16)


@pytest.mark.parametrize("side", list(ArmSide))
def test_limits_match_the_urdf_and_unitree_example(side: ArmSide) -> None:
    limits = load_hand_limits(side)
    assert len(limits.lower) == len(limits.upper) == 7
    if side is ArmSide.LEFT:  # thumb_2 closes positive, fingers negative
        assert limits.upper[2] == pytest.approx(1.745, abs=1e-3)
        assert limits.lower[3:] == pytest.approx((-1.5708, -1.7453, -1.5708, -1.7453), abs=1e-3)
    else:
        assert limits.lower[2] == pytest.approx(-1.745, abs=1e-3)
        assert limits.upper[3:] == pytest.approx((1.5708, 1.7453, 1.5708, 1.7453), abs=1e-3)


@pytest.mark.parametrize("side", list(ArmSide))
def test_open_and_close_commands(side: ArmSide) -> None:
    limits = load_hand_limits(side)
    config = HandConfig(kp=1.5, kd=0.15, close_fraction=0.8)
    opened = hand_command(limits, False, config)
    closed = hand_command(limits, True, config)
    assert opened.side is closed.side is side
    assert list(open_targets(limits)) == [0.0] * 7  # no spread: every joint straight
    # the release spreads thumb_1 to the end of its range away from the fingers (the default
    # open_spread_fraction 1): the opposite sign to its closing target
    spread = [m.q for m in opened.motors]
    assert spread == list(open_targets(limits, 1.0))
    assert spread[1] in (limits.lower[1], limits.upper[1]) and abs(spread[1]) > 0.5
    assert spread[1] * close_targets(limits, 0.8)[1] < 0
    assert spread[0] == 0.0 and spread[2:] == [0.0] * 5
    half = open_targets(limits, 0.5)
    assert half[1] == pytest.approx(spread[1] / 2) and half[2:] == (0.0,) * 5
    assert [m.q for m in closed.motors] == pytest.approx(close_targets(limits, 0.8))
    for index, (motor, lo, hi) in enumerate(
        zip(closed.motors, limits.lower, limits.upper, strict=True)
    ):
        assert lo <= motor.q <= hi
        assert motor.mode == dex3_mode(index)
        assert (motor.kp, motor.kd, motor.dq, motor.tau) == (1.5, 0.15, 0.0, 0.0)
    assert closed.motors[0].q == 0.0  # the thumb's opposition stays
    assert all(abs(m.q) > 0.5 for m in closed.motors[2:])  # fingers and thumb tip curl


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="hand kp"):
        HandConfig(kp=60.0)  # an arm gain on a finger: refused
    with pytest.raises(ValueError, match="close_fraction"):
        HandConfig(close_fraction=1.5)
    with pytest.raises(ValueError, match="open_spread_fraction"):
        HandConfig(open_spread_fraction=-0.1)


@pytest.mark.parametrize("side", list(ArmSide))
def test_closure_reads_open_as_0_and_the_close_target_as_1(side: ArmSide) -> None:
    limits, config = load_hand_limits(side), HandConfig()
    opened = np.array(open_targets(limits, config.open_spread_fraction))
    closed = np.array(close_targets(limits, config.close_fraction))
    assert np.allclose(closure(limits, config, opened), 0.0)
    assert np.allclose(closure(limits, config, closed), 1.0)
    halfway = closure(limits, config, (opened + closed) / 2)
    assert np.allclose(halfway, 0.5)
    assert closed_on_nothing(limits, config, closed, 0.95)
    assert not closed_on_nothing(limits, config, (opened + closed) / 2, 0.95)
    # one finger stopped by an object is enough to say the hand holds something
    middle_stopped = closed.copy()
    middle_stopped[3] = (opened[3] + closed[3]) / 2
    assert not closed_on_nothing(limits, config, middle_stopped, 0.95)


def test_a_joint_without_travel_counts_as_closed() -> None:
    limits = load_hand_limits(ArmSide.RIGHT)
    config = HandConfig(close_fraction=0.0, open_spread_fraction=0.0)  # open == close
    q = np.array(open_targets(limits, 0.0))
    assert np.all(closure(limits, config, q) == 1.0)
