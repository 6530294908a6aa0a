"""The simulated G1's key frames: recognised from the commands the bridge sends (the arm_sdk
weight, the Dex3 commands built by the bridge's own ``hand_command``), each the newest head
camera frame, written in order with the strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.g1.hands import HandConfig, hand_command, load_hand_limits
from roborefer_ros.manipulation.g1.kinematics import ArmSide
from roborefer_ros.ros.sim.g1_driver import G1KeyFrames, closing_share
from roborefer_ros.sim.episodes.live import SimSnapshot
from roborefer_ros.sim.episodes.strip import KEY_FRAME_FILES, KeyFrameWriter

LIMITS = {side: load_hand_limits(side) for side in ArmSide}


CAMERA = CameraModel(
    64, 48, np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]]), np.zeros((3, 4)), frame_id="cam"
)


def _snapshot(t_s: float, shade: int) -> SimSnapshot:
    return SimSnapshot(
        t_s,
        np.full((48, 64, 3), shade, np.uint8),
        np.ones((48, 64), np.float32),
        CAMERA,
        Transform((0.1, 0.0, 0.5)),
        (),
    )


@pytest.mark.parametrize("side", list(ArmSide))
def test_the_bridges_hand_commands_read_as_closed_and_open(side: ArmSide) -> None:
    config = HandConfig()
    assert closing_share(LIMITS[side], hand_command(LIMITS[side], True, config)) == pytest.approx(
        config.close_fraction
    )
    assert closing_share(LIMITS[side], hand_command(LIMITS[side], False, config)) <= 0.0


def test_key_frames_follow_a_pick_and_place(tmp_path: Path) -> None:
    keys = G1KeyFrames(KeyFrameWriter(tmp_path), LIMITS)
    config = HandConfig()
    close = hand_command(LIMITS[ArmSide.RIGHT], True, config)
    opened = hand_command(LIMITS[ArmSide.RIGHT], False, config)
    keys.on_weight(0.5, 0.0)  # before any camera frame: nothing to write yet
    assert keys.stage == "idle"
    keys.saw(_snapshot(0.0, 10))
    keys.on_weight(0.0, 0.1)  # still at rest
    keys.on_weight(0.02, 0.2)  # the ramp-in: start
    keys.saw(_snapshot(1.0, 20))
    keys.on_hand(opened, 1.0)  # an open hand before the grasp is no key frame
    keys.on_hand(close, 1.1)  # grasp
    keys.on_hand(close, 1.2)  # the same command, streamed on
    keys.saw(_snapshot(2.0, 30))
    keys.on_weight(1.0, 2.0)  # too early for the lift
    keys.on_weight(1.0, 3.2)  # LIFT_SHOT_AFTER_S after the grasp
    keys.saw(_snapshot(3.0, 40))
    keys.on_hand(opened, 4.0)  # place
    keys.on_weight(0.5, 4.5)  # ramping out
    keys.saw(_snapshot(4.0, 50))
    keys.on_weight(0.0, 5.0)  # end
    assert keys.stage == "done"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == list(KEY_FRAME_FILES)
    # each is the newest frame at its event (the label drawn at the top left only)
    shades = [int(np.asarray(Image.open(tmp_path / n))[-1, -1, 0]) for n in names[:5]]
    assert shades == [10, 20, 30, 40, 50]


def test_an_episode_that_stops_early_still_gets_its_strip(tmp_path: Path) -> None:
    keys = G1KeyFrames(KeyFrameWriter(tmp_path), LIMITS)
    keys.saw(_snapshot(0.0, 10))
    keys.close()  # nothing shot yet: nothing written
    assert list(tmp_path.iterdir()) == []
    keys.on_weight(0.1, 0.0)
    keys.on_hand(hand_command(LIMITS[ArmSide.LEFT], True, HandConfig()), 1.0)
    keys.close()  # aborted while carrying
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00_start.png",
        "01_grasp.png",
        "strip.png",
    ]
    keys.on_weight(0.0, 9.0)  # nothing more after the close
    assert len(list(tmp_path.iterdir())) == 3
