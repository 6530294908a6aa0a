"""Robot variants a scene can hold, behind one small Protocol so a new robot is one class.

A variant adds its bodies to the scene's ``mujoco.MjSpec`` with its base at the ``base_link``
origin and names the joint angles of its resting pose. MuJoCo objects are untyped (``Any``);
they stay inside ``add_to``. A variant may also bring its own table (``table``: a TableSpec),
its own scene camera (``camera_rig(width, height)``: e.g. a head camera) and its object count
(``n_objects``: a small table holds fewer); ``scene_layout`` reads them. The robots themselves
live beside this module (``ur5e``, ``g1``); ``roborefer_ros.sim.robots`` registers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from roborefer_ros.sim.camera_rig import CameraRig
from roborefer_ros.sim.spec import TableSpec

ROBOT_PREFIX = "robot/"  # every body of the robot is named with this prefix (segmentation)


class RobotVariant(Protocol):
    """A robot that can be put into a scene."""

    name: str

    def add_to(self, spec: Any) -> None:
        """Attach the robot to ``spec`` (a ``mujoco.MjSpec``), names prefixed by ROBOT_PREFIX."""

    def home_qpos(self) -> Mapping[str, float]:
        """Joint name (with prefix) -> angle in radians for the resting pose."""


class NoRobot:
    """An empty table: the fastest scene, for tests that only need objects."""

    name = "none"

    def add_to(self, spec: Any) -> None:
        del spec

    def home_qpos(self) -> Mapping[str, float]:
        return {}


def adopt_options(parent: Any, child: Any) -> None:
    """Give ``parent`` the child's solver options, which attaching would otherwise warn about."""
    parent.option.integrator = child.option.integrator
    parent.option.cone = child.option.cone
    parent.option.impratio = child.option.impratio


def scene_layout(
    robot: RobotVariant, width: int, height: int
) -> tuple[TableSpec | None, CameraRig | None, int | None]:
    """The robot's own table, scene camera and object count (``n_objects``), each None when the
    scene's default applies."""
    table = getattr(robot, "table", None)
    make_rig = getattr(robot, "camera_rig", None)
    rig = make_rig(width, height) if callable(make_rig) else None
    count = getattr(robot, "n_objects", None)
    return (
        table if isinstance(table, TableSpec) else None,
        rig if isinstance(rig, CameraRig) else None,
        count if isinstance(count, int) else None,
    )
