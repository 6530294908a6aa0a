"""The robots a simulated scene can hold, by name: ``robot_variant("ur5e" | "g1" | "none")``.

``base`` holds what every robot shares (the ``RobotVariant`` Protocol, the body-name prefix, the
empty table); each robot has its own module. The G1 needs ``example-robot-data`` only when it is
added to a scene.
"""

from __future__ import annotations

from collections.abc import Callable

from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robots.base import ROBOT_PREFIX, NoRobot, RobotVariant, scene_layout
from roborefer_ros.sim.robots.g1 import G1
from roborefer_ros.sim.robots.ur5e import UR5e

__all__ = [
    "G1",
    "ROBOTS",
    "ROBOT_PREFIX",
    "NoRobot",
    "RobotVariant",
    "UR5e",
    "robot_variant",
    "scene_layout",
]

ROBOTS: dict[str, Callable[[], RobotVariant]] = {"ur5e": UR5e, "g1": G1, "none": NoRobot}


def robot_variant(name: str) -> RobotVariant:
    """The registered variant called ``name``, or SimError listing the known ones."""
    try:
        factory = ROBOTS[name]
    except KeyError:
        raise SimError(f"unknown robot {name!r}; known: {sorted(ROBOTS)}") from None
    return factory()
