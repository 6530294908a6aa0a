"""``make_sim_backend(scene, **options)``: the in-process simulated arm for a scene's robot;
``make_episode_backend(scene)``: what an in-process episode executes its plan on.

One executor (``SimArmBackend``) for every robot; the scene's ``robot_name`` picks the rig (the
UR5e + 2F-85, or the G1 + Dex3) and its default options (the G1's compliant grip tolerates more
slip). ``options`` are ``SimArmOptions`` fields and override the robot's defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import ExecutionResult, StepCallback, StepPlan
from roborefer_ros.sim.arms.executor import SimArmBackend, SimArmOptions, SimArmRig, SimFault
from roborefer_ros.sim.arms.g1 import G1_OPTIONS, G1Rig
from roborefer_ros.sim.arms.g1_bridge import SimG1BridgeBackend
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


class EpisodeBackend(Protocol):
    """What an in-process episode needs of the simulated robot: execute a plan, let physics run,
    and tell (for judging only) where objects are, what the hand holds and why a plan failed."""

    last_fault: SimFault | None

    @property
    def held_object(self) -> str | None: ...

    @property
    def sim_time_s(self) -> float: ...

    def hold(self, duration_s: float, each_period: Callable[[], None] | None = None) -> None: ...

    def object_pose(self, name: str) -> Transform: ...

    def object_speed_m_s(self, name: str) -> float: ...

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult: ...


def make_episode_backend(scene: SimScene, realtime: bool = False) -> EpisodeBackend:
    """The G1 runs its plans through its real arm bridge (``SimG1BridgeBackend``: arm_sdk
    streaming, the bridge's URDF IK, Dex3 commands), as on the live graph; the UR5e through
    ``make_sim_backend``. ``realtime`` is for the UR5e's executor only (SimError for the G1)."""
    if scene.robot_name == "g1":
        if realtime:
            raise SimError("realtime pacing is not available for the G1's in-process bridge")
        return SimG1BridgeBackend(scene)
    return make_sim_backend(scene, realtime=realtime)
