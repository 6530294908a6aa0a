"""The name the pick_place node imports the simulated backends by; one per simulated robot.

``make_sim_backend(scene, **options)`` returns a ManipulationBackend for a ``SimScene`` built with
``dynamic_objects=True``, chosen by ``scene.robot_name``: ``SimUR5eBackend`` (sim_ur5e) for
"ur5e", ``SimG1Backend`` (sim_g1) for "g1". ``options`` are ``SimUR5eOptions`` fields for both
(the G1 starts from ``sim_g1.G1_OPTIONS``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from roborefer_ros.manipulation.sim_g1 import G1_OPTIONS, SimG1Backend
from roborefer_ros.manipulation.sim_ur5e import (
    SimFault,
    SimUR5eBackend,
    SimUR5eOptions,
)
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.scene import SimScene

__all__ = [
    "SimFault",
    "SimG1Backend",
    "SimUR5eBackend",
    "SimUR5eOptions",
    "make_sim_backend",
]


def make_sim_backend(scene: SimScene, **options: Any) -> SimUR5eBackend:
    """The simulated backend for ``scene.robot_name`` (a SimG1Backend for "g1", else a
    SimUR5eBackend, which reports itself unavailable on a scene without a UR5e); ``options`` are
    SimUR5eOptions fields (e.g. ``realtime=True``). Raises SimError for something that is not a
    SimScene or an unknown option."""
    if not isinstance(scene, SimScene):
        raise SimError(
            f"make_sim_backend needs a roborefer_ros.sim.SimScene, got {type(scene).__name__}"
        )
    known = set(SimUR5eOptions.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise SimError(f"unknown sim backend options {unknown}; known: {sorted(known)}")
    if scene.robot_name == "g1":
        return SimG1Backend(scene, dataclasses.replace(G1_OPTIONS, **options))
    return SimUR5eBackend(scene, SimUR5eOptions(**options))
