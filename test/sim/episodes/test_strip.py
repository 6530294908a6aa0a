"""Pick-and-place strips a person can read: each key frame says its stage, the plan's pick and
place targets are marked where the camera sees them (they used to be bare renders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import Stage, Step, StepKind, StepPlan
from roborefer_ros.sim.episodes.strip import (
    KeyFrameWriter,
    StripTargets,
    labelled_frame,
    plan_targets,
)
from roborefer_ros.sim.render import RenderedFrame

DOWN = (1.0, 0.0, 0.0, 0.0)
GREY = 128


def _step(kind: StepKind, label: str, xyz: tuple[float, float, float] | None = None) -> Step:
    pose = Transform(xyz, DOWN) if xyz is not None else None
    return Step(kind, Stage.APPROACH, label, pose)


PLAN = StepPlan(
    "torso_link",
    (
        _step(StepKind.MOVE, "pre-grasp", (0.4, 0.1, 0.3)),
        _step(StepKind.LINEAR, "approach", (0.4, 0.1, 0.1)),
        _step(StepKind.CLOSE, "close"),
        _step(StepKind.LINEAR, "lift", (0.4, 0.1, 0.3)),
        _step(StepKind.MOVE, "place", (0.5, -0.2, 0.12)),
        _step(StepKind.OPEN, "open"),
        _step(StepKind.LINEAR, "retreat", (0.5, -0.2, 0.3)),
    ),
)


def test_plan_targets_are_where_the_gripper_closes_and_opens_in_the_base_frame() -> None:
    T_base_from_torso = Transform((0.1, 0.0, 0.8))
    targets = plan_targets(PLAN, T_base_from_torso)
    assert targets.pick == pytest.approx((0.5, 0.1, 0.9))
    assert targets.place == pytest.approx((0.6, -0.2, 0.92))
    assert plan_targets(StepPlan("base_link", PLAN.steps[:2]), Transform()) == StripTargets()


def _frame() -> RenderedFrame:
    """A grey frame from a camera 1 m above the base origin looking straight down."""
    k = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    camera = CameraModel(640, 480, k, np.hstack([k, np.zeros((3, 1))]))
    down = Transform((0.0, 0.0, 1.0), DOWN)  # optical z along base -z
    rgb = np.full((480, 640, 3), GREY, dtype=np.uint8)
    depth = np.ones((480, 640), dtype=np.float32)
    labels = np.zeros((480, 640), dtype=np.int32)
    return RenderedFrame(0.0, rgb, depth, labels, camera, down)


def test_a_key_frame_shows_its_stage_and_both_targets() -> None:
    frame = _frame()
    targets = StripTargets(pick=(0.1, 0.0, 0.0), place=(-0.1, 0.1, 0.0))
    image = labelled_frame(frame, 2, "grasp", targets)
    # DOWN turns base +x to image +u, base +y to image -v: pick at u = 370, place at (270, 190)
    for u, v in ((370, 240), (270, 190)):
        patch = image[v - 15 : v + 16, u - 15 : u + 16]
        assert (patch == 255).all(axis=-1).sum() > 30 and (patch == 0).all(axis=-1).sum() > 30
    assert (image[:20, :60] < GREY).all(axis=-1).mean() > 0.3  # "2. grasp" in the corner
    half = labelled_frame(frame, 2, "grasp", targets, half=True)
    assert half.shape == (240, 320, 3)
    assert (half[120, 185] != GREY).any()  # the pick mark at half scale


def test_the_writer_marks_targets_known_late_on_every_frame(tmp_path: Path) -> None:
    writer = KeyFrameWriter(tmp_path)
    writer("start", _frame())  # before the plan is known
    writer.set_targets(StripTargets(pick=(0.1, 0.0, 0.0)))
    writer("grasp", _frame())
    strip = writer.close()
    assert strip == tmp_path / "strip.png"
    from PIL import Image

    first = np.asarray(Image.open(tmp_path / "00_start.png"))
    assert (first[225:256, 355:386] == 255).all(axis=-1).sum() > 30  # redrawn with the target
    assert np.asarray(Image.open(strip)).shape == (240, 640, 3)
