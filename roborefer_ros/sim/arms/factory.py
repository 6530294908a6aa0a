"""``make_sim_backend(scene, **options)``: the in-process simulated arm for a scene's robot.

One executor (``SimArmBackend``) for every robot; the scene's ``robot_name`` picks the rig (the
UR5e + 2F-85, or the G1 + Dex3) and its default options (the G1's compliant grip tolerates more
slip). ``options`` are ``SimArmOptions`` fields and override the robot's defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from roborefer_ros.sim.arms.executor import SimArmBackend, SimArmOptions, SimArmRig
from roborefer_ros.sim.arms.g1 import G1_OPTIONS, G1Rig
from roborefer_ros.sim.arms.ur5e import UR5eRig
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.scene import SimScene

#: robot name -> (rig maker, default options); other names get the UR5e's rig, which reports
#: itself unavailable on a scene without a UR5e.
RIGS: dict[str, tuple[Callable[[Any, Any, SimScene], SimArmRig], SimArmOptions]] = {
    "ur5e": (UR5eRig, SimArmOptions()),
    "g1": (G1Rig, G1_OPTIONS),
}


def make_sim_backend(scene: SimScene, **options: Any) -> SimArmBackend:
    """The simulated backend for ``scene.robot_name``; ``options`` are SimArmOptions fields
    (e.g. ``realtime=True``). Raises SimError for something that is not a SimScene or an unknown
    option."""
    if not isinstance(scene, SimScene):
        raise SimError(
            f"make_sim_backend needs a roborefer_ros.sim.SimScene, got {type(scene).__name__}"
        )
    known = set(SimArmOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise SimError(f"unknown sim backend options {unknown}; known: {sorted(known)}")
    make_rig, defaults = RIGS.get(scene.robot_name, RIGS["ur5e"])
    return SimArmBackend(scene, make_rig, dataclasses.replace(defaults, **options))
