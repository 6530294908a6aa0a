"""The name the pick_place node imports the simulated backend by; the UR5e one lives in sim_ur5e.

``make_sim_backend(scene, **options)`` returns a ManipulationBackend for a ``SimScene`` built with
``dynamic_objects=True``; a second simulated robot (the G1) would be chosen here by
``scene.robot_name``.
"""

from __future__ import annotations

from roborefer_ros.manipulation.sim_ur5e import (
    SimFault,
    SimUR5eBackend,
    SimUR5eOptions,
    make_sim_backend,
)

__all__ = ["SimFault", "SimUR5eBackend", "SimUR5eOptions", "make_sim_backend"]
