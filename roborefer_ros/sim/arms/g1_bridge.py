"""The simulated G1 driven by its real arm bridge, in one process (ROS-free): the ``g1``
manipulation backend's ``G1Bridge`` over the simulated motors (``g1_lowlevel.G1LowLevel``) on
the simulated clock (``VirtualClockIo``).

This is the robot path a G1 user runs (arm_sdk streaming with its weight ramps, velocity cap,
limit clamp and aborts; the bridge's own URDF IK; the Dex3 commands) with the ROS transport left
out, so an episode runs as fast as the physics steps and deterministically: what the in-process
episodes and batches of the G1 execute (``factory.make_episode_backend``). The live graph runs
the same bridge in pick_place_node against sim_node's unitree_ros2 topics.

What the bridge cannot tell (it sees joints, not contacts) is observed here for the episode's
failure classes only, never fed back: after a CLOSE, which object the thumb and a finger (or the
palm) both touch, else, after the LIFT, the object a hand touches that rose with it
(``held_object``: a grip held by the palm and fingers with the thumb off at that instant); every
contact of the robot with the table or an object other than the held one (``contacts``: the first
per pair, with the step it happened in).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.g1.bridge import G1Bridge, G1BridgeConfig
from roborefer_ros.manipulation.g1.gravity import gravity_torques, load_upper_body
from roborefer_ros.manipulation.g1.hands import load_hand_limits
from roborefer_ros.manipulation.g1.kinematics import (
    ArmSide,
    G1KinematicsError,
    IkOptions,
    load_arm_chain,
    load_waist_chain,
)
from roborefer_ros.manipulation.obstacles import DepthView
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    Stage,
    Step,
    StepCallback,
    StepKind,
    StepPlan,
)
from roborefer_ros.sim.arms.executor import SimFault
from roborefer_ros.sim.arms.g1_lowlevel import G1LowLevel, VirtualClockIo
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.robots.base import ROBOT_PREFIX
from roborefer_ros.sim.scene import SimScene

_LIFTED_M = 0.02  # an object this far above its place before the plan rose with the hand
# config/g1.yaml's bridge settings (the g1_* defaults, the Dex3's grasp point as its TCP, the IK
# tolerance; test/ros/pick_place/test_params.py holds them equal)
G1_BRIDGE_CONFIG = G1BridgeConfig(
    ik=IkOptions(tcp_offset_m=0.06, tcp_lateral_m=0.045, position_tolerance_m=0.005),
    palm_overlap_m=0.01,
)


@dataclass(frozen=True)
class RobotContact:
    """A robot link touching something that is not the held object: the link, what it touched
    (an object's name or ``table``), the step it happened in and when (simulated s)."""

    link: str
    other: str
    step: int
    sim_time_s: float


class SimG1BridgeBackend:
    """A ManipulationBackend: ``G1Bridge`` on the simulated G1 (see the module docstring)."""

    name = "sim_g1_bridge"

    def __init__(self, scene: SimScene, config: G1BridgeConfig = G1_BRIDGE_CONFIG) -> None:
        self.scene = scene
        self.last_fault: SimFault | None = None
        self.contacts: list[RobotContact] = []
        self.held_object: str | None = None
        # the scene as the head camera saw it before the plan (plan frame): what the bridge
        # checks its place half against, as the live backend does with its depth topic
        self.depth_view: DepthView | None = None
        self._why = ""
        try:
            self.robot = G1LowLevel(scene)
            chains = {side: load_arm_chain(side) for side in ArmSide}
            hands = {side: load_hand_limits(side) for side in ArmSide}
            gravity = partial(gravity_torques, load_upper_body())
            waist = load_waist_chain()
        except (SimError, G1KinematicsError) as err:
            self._why = f"unavailable: {err}"
            return
        self.io = _ObservedIo(self.robot, self)
        self.bridge = G1Bridge(
            config, self.io, chains, hands, gravity, scene=lambda: self.depth_view, waist=waist
        )
        model = scene.model
        self._objects = {int(model.body(o.name).id): o.name for o in scene.spec.objects}
        self._robot_bodies = {
            i: str(model.body(i).name).removeprefix(ROBOT_PREFIX)
            for i in range(int(model.nbody))
            if str(model.body(i).name).startswith(ROBOT_PREFIX)
        }
        self._table = int(model.body("table").id)
        self._step = -1
        self._seen: set[tuple[str, str]] = set()

    def available(self) -> tuple[bool, str]:
        return (not self._why, self._why)

    @property
    def sim_time_s(self) -> float:
        return self.robot.sim_time_s

    def hold(self, duration_s: float, each_period: Callable[[], None] | None = None) -> None:
        """Let the physics run (the standing controller holds the arms)."""
        if self._why:
            raise SimError(self._why)
        end = self.sim_time_s + duration_s
        while self.sim_time_s < end - 1e-9:
            self.io.sleep_until(min(end, self.sim_time_s + 0.01))
            if each_period is not None:
                each_period()

    def object_pose(self, name: str) -> Transform:
        body = self.scene.data.body(name)
        w, x, y, z = (float(c) for c in body.xquat)
        p = body.xpos
        return Transform((float(p[0]), float(p[1]), float(p[2])), (x, y, z, w))

    def object_speed_m_s(self, name: str) -> float:
        return float(math.sqrt(sum(float(v) ** 2 for v in self.scene.data.body(name).cvel[3:])))

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        self.last_fault = None
        if self._why:
            self.last_fault = SimFault.UNAVAILABLE
            return ExecutionResult(ExecutionStatus.UNAVAILABLE, self._why)

        rest_z = {
            name: float(self.scene.data.body(name).xpos[2]) for name in self._objects.values()
        }

        def step_started(index: int, step: Step) -> None:
            previous = plan.steps[self._step] if self._step >= 0 else None
            if previous is not None and previous.kind is StepKind.CLOSE:
                self.held_object = self._grasped()
            elif previous is not None and previous.stage is Stage.LIFT and not self.held_object:
                self.held_object = self._lifted(rest_z)
            self._step = index
            if on_step is not None:
                on_step(index, step)

        result = self.bridge.execute(plan, step_started, cancelled)
        if self._step >= 0 and plan.steps[self._step].kind is StepKind.CLOSE:
            self.held_object = self._grasped()
        self.last_fault = _fault_of(result)
        return result

    # ---- observation (never fed back) ----

    def _touching(self) -> Iterator[tuple[str, int]]:
        """(robot link name, other body id) for every contact of a robot link with a body that
        is not the robot's (each way round)."""
        model, data = self.scene.model, self.scene.data
        for i in range(int(data.ncon)):
            contact = data.contact[i]
            if float(contact.dist) > 0.0:
                continue
            b1, b2 = int(model.geom_bodyid[contact.geom1]), int(model.geom_bodyid[contact.geom2])
            for robot, other in ((b1, b2), (b2, b1)):
                link = self._robot_bodies.get(robot)
                if link is not None and other not in self._robot_bodies:
                    yield link, other

    def observe(self) -> None:
        """Record new contacts of the robot with the table or a neighbour (every bridge tick)."""
        for link, other in self._touching():
            name = "table" if other == self._table else self._objects.get(other)
            if name is None or name == self.held_object or (link, name) in self._seen:
                continue
            self._seen.add((link, name))
            self.contacts.append(RobotContact(link, name, self._step, self.sim_time_s))

    def _lifted(self, rest_z: dict[str, float]) -> str | None:
        """The object a hand link touches that is at least ``_LIFTED_M`` above where it was."""
        for link, other in self._touching():
            name = self._objects.get(other)
            if name is None or "_hand_" not in link:
                continue
            if float(self.scene.data.body(name).xpos[2]) - rest_z[name] >= _LIFTED_M:
                return name
        return None

    def _grasped(self) -> str | None:
        """The object both the thumb and a finger or the palm of either hand touch."""
        touched: dict[str, set[str]] = {"thumb": set(), "other": set()}
        for link, other in self._touching():
            name = self._objects.get(other)
            if name is not None and "_hand_" in link:
                touched["thumb" if "_thumb_" in link else "other"].add(name)
        both = sorted(touched["thumb"] & touched["other"])
        return both[0] if both else None


class _ObservedIo(VirtualClockIo):
    """``VirtualClockIo`` that lets the backend look at the contacts every bridge tick."""

    def __init__(self, robot: G1LowLevel, backend: SimG1BridgeBackend) -> None:
        super().__init__(robot)
        self._backend = backend

    def send_arm(self, command: Any) -> None:
        super().send_arm(command)
        self._backend.observe()


def _fault_of(result: ExecutionResult) -> SimFault | None:
    """The finer cause of a bridge result, from its status and message."""
    status, message = result.status, result.message
    if status is ExecutionStatus.SUCCEEDED:
        return None
    if status is ExecutionStatus.PLANNING_FAILED:
        return SimFault.IK_UNREACHABLE
    if status is ExecutionStatus.CANCELED:
        return SimFault.CANCELED
    if status is ExecutionStatus.REJECTED:
        return SimFault.REJECTED
    if status is ExecutionStatus.UNAVAILABLE:
        return SimFault.UNAVAILABLE
    if status is ExecutionStatus.GRASP_FAILED:  # the bridge read an empty hand after the lift
        return SimFault.EMPTY_GRASP
    if "tracking error" in message or "did not settle" in message:
        return SimFault.TRACKING
    return SimFault.COLLISION if "LowState" not in message else SimFault.TRACKING
