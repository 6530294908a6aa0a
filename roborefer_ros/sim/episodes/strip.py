"""Key frames of a pick and place a person can read: stage labels and the plan's targets marked.

Each frame is labelled with its stage (start, grasp, lift, place, end), the plan's pick and place
targets are marked, and the frames go side by side in ``strip.png``.

The targets are where the plan closes and opens the gripper (the tool centre point of the pose
before CLOSE and before OPEN), in the scene's base frame, projected with each frame's own camera.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.annotate import Mark, draw_marks
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import StepKind, StepPlan
from roborefer_ros.sim.render import RenderedFrame

Point3 = tuple[float, float, float]


@dataclass(frozen=True)
class StripTargets:
    """Where the plan grasps (``pick``) and releases (``place``), metres in the scene's base
    frame; None when the plan has no such step."""

    pick: Point3 | None = None
    place: Point3 | None = None


def plan_targets(plan: StepPlan, T_base_from_plan: Transform) -> StripTargets:
    """The TCP positions of the last pose before the plan's CLOSE and before its OPEN."""
    found: dict[StepKind, Point3] = {}
    last: Transform | None = None
    for step in plan.steps:
        if step.tcp_pose is not None:
            last = step.tcp_pose
        elif step.kind in (StepKind.CLOSE, StepKind.OPEN) and last is not None:
            x, y, z = (float(c) for c in T_base_from_plan.apply(last.translation))
            found.setdefault(step.kind, (x, y, z))
    return StripTargets(found.get(StepKind.CLOSE), found.get(StepKind.OPEN))


def _marks(frame: RenderedFrame, targets: StripTargets, scale: float) -> list[Mark]:
    """The targets as marks on ``frame`` (pixels of an image ``scale`` times its size)."""
    T_optical_from_base = frame.T_base_from_optical.inverse()
    marks = []
    for index, (name, point) in enumerate((("pick", targets.pick), ("place", targets.place))):
        if point is None:
            continue
        in_camera = T_optical_from_base.apply(np.asarray(point, dtype=np.float64))
        if in_camera[2] <= 0.0:
            continue  # behind the camera
        u, v = frame.camera.project(in_camera)
        marks.append(Mark((u * scale, v * scale), (name,), index=index + 1))
    return marks


def labelled_frame(
    frame: RenderedFrame, number: int, label: str, targets: StripTargets, half: bool = False
) -> npt.NDArray[np.uint8]:
    """One key frame: its number and stage at the top left, the targets marked (``half``: at
    half size, for the strip)."""
    rgb = frame.rgb[::2, ::2] if half else frame.rgb
    scale = 0.5 if half else 1.0
    return draw_marks(rgb, _marks(frame, targets, scale), (f"{number}. {label}",))


KEY_FRAME_LABELS = ("start", "grasp", "lift", "place", "end")
# the files a whole pick and place leaves in a key-frame folder
KEY_FRAME_FILES = (
    *(f"{index:02d}_{label}.png" for index, label in enumerate(KEY_FRAME_LABELS)),
    "strip.png",
)


class KeyFrameWriter:
    """A KeyFrameSink writing ``NN_label.png`` into a folder (each labelled with its stage, the
    targets marked) and, on ``close``, ``strip.png`` (the key frames side by side at half size).
    Targets given later (``set_targets``, once the plan is known) are drawn on every frame when
    the writer closes, the earlier ones included."""

    def __init__(self, folder: str | os.PathLike[str], targets: StripTargets | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.targets = targets or StripTargets()
        self.frames: list[tuple[str, RenderedFrame]] = []

    @property
    def images(self) -> list[npt.NDArray[np.uint8]]:
        """The raw key frames so far (HxWx3 uint8)."""
        return [frame.rgb for _, frame in self.frames]

    def set_targets(self, targets: StripTargets) -> None:
        self.targets = targets

    def __call__(self, label: str, frame: RenderedFrame) -> None:
        self.frames.append((label, frame))
        self._write(len(self.frames) - 1)

    def _write(self, index: int) -> None:
        from PIL import Image

        label, frame = self.frames[index]
        image = labelled_frame(frame, index + 1, label, self.targets)
        Image.fromarray(image).save(self.folder / f"{index:02d}_{label}.png")

    def close(self) -> Path | None:
        """Write every frame again with the targets known now, and the strip; None when there
        are no frames."""
        from PIL import Image

        if not self.frames:
            return None
        for index in range(len(self.frames)):
            self._write(index)
        panels = [
            labelled_frame(frame, index + 1, label, self.targets, half=True)
            for index, (label, frame) in enumerate(self.frames)
        ]
        path = self.folder / "strip.png"
        Image.fromarray(np.concatenate(panels, axis=1)).save(path)
        return path


class DriverKeyFrames:
    """Key frames of a pick and place, recognised by a simulated robot's driver from the commands
    it receives (the UR cell's trajectories and gripper goals, the G1's arm_sdk and Dex3
    commands); ``render()`` gives the frame to keep."""

    def __init__(self, writer: KeyFrameWriter, render: Callable[[], RenderedFrame]) -> None:
        self.writer, self.render = writer, render
        self.stage = "idle"

    def _shot(self, label: str) -> None:
        self.writer(label, self.render())

    def before_trajectory(self) -> None:
        if self.stage == "idle":
            self._shot("start")
            self.stage = "moving"

    def after_trajectory(self) -> None:
        if self.stage == "grasped":
            self._shot("lift")
            self.stage = "carrying"
        elif self.stage == "released":
            self._shot("end")
            self.writer.close()
            self.stage = "done"

    def after_close(self, stalled: bool) -> None:
        if stalled and self.stage == "moving":
            self._shot("grasp")
            self.stage = "grasped"

    def before_open(self) -> None:
        if self.stage in ("grasped", "carrying"):
            self._shot("place")
            self.stage = "released"

    def close(self) -> None:
        """An episode that ended before its end frame (an abort, a stopped node) still gets the
        strip of the frames it has."""
        if self.stage not in ("idle", "done"):
            self.writer.close()
            self.stage = "done"
