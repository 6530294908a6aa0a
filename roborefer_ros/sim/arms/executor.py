"""Execute a StepPlan on a simulated arm and hand with real contacts (ROS-free): one executor
for every simulated robot; what differs per robot lives in its ``SimArmRig`` (``ur5e``, ``g1``).

The object is only ever moved by the fingers: no teleporting, no welds. MOVE solves IK for the
goal and tracks a smooth joint-space segment with the arm's own position servos; LINEAR solves IK
along interpolated Cartesian waypoints (5 mm apart) and tracks them the same way; CLOSE and OPEN
drive the hand and watch the finger contacts. A rig with via heights (the G1) takes a MOVE that
ends low over the table over the objects: up, across, straight down.

Failures map onto ExecutionStatus as a real backend's would: IK without a solution under the
residual threshold or a MOVE path through the table -> PLANNING_FAILED; a contact of the arm with
the table (or of an arm link with an object), or a servo lagging its reference -> EXECUTION_FAILED;
fingers that close on nothing or an object that does not follow the hand -> GRASP_FAILED. The
cause is also kept as a typed ``SimFault`` in ``last_fault``. Step durations are simulated seconds
(what the robot would take); with ``realtime`` the loop sleeps so they are wall seconds too.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.transforms import Transform, interpolate
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    Stage,
    Step,
    StepCallback,
    StepKind,
    StepPlan,
)
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.arms.kinematics import (
    ArmKinematics,
    IkSolution,
    robot_contacts,
    rotation_angle,
)
from roborefer_ros.sim.errors import SimError
from roborefer_ros.sim.scene import SimScene

FloatArray = npt.NDArray[np.float64]

_QUINTIC_PEAK = 1.875  # peak speed of a quintic (min-jerk) blend over the mean speed
_MIN_SEGMENT_S = 0.2


class SimFault(Enum):
    """Why the last execution stopped, finer than ExecutionStatus (for failure statistics)."""

    IK_UNREACHABLE = "ik_unreachable"
    PATH_IN_COLLISION = "path_in_collision"
    COLLISION = "collision"
    TRACKING = "tracking"
    EMPTY_GRASP = "empty_grasp"
    SLIP = "slip"
    CANCELED = "canceled"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"


_STATUS_OF_FAULT = {
    SimFault.IK_UNREACHABLE: ExecutionStatus.PLANNING_FAILED,
    SimFault.PATH_IN_COLLISION: ExecutionStatus.PLANNING_FAILED,
    SimFault.COLLISION: ExecutionStatus.EXECUTION_FAILED,
    SimFault.TRACKING: ExecutionStatus.EXECUTION_FAILED,
    SimFault.EMPTY_GRASP: ExecutionStatus.GRASP_FAILED,
    SimFault.SLIP: ExecutionStatus.GRASP_FAILED,
    SimFault.CANCELED: ExecutionStatus.CANCELED,
    SimFault.REJECTED: ExecutionStatus.REJECTED,
    SimFault.UNAVAILABLE: ExecutionStatus.UNAVAILABLE,
}


@dataclass(frozen=True)
class SimArmOptions:
    """Speeds, tolerances and pacing of the simulated arm (SI units)."""

    realtime: bool = False  # sleep so that simulated time runs at wall-clock speed
    joint_speed_rad_s: float = 1.0  # peak joint speed of MOVE at speed_scale 1
    linear_speed_m_s: float = 0.10  # peak TCP speed of LINEAR at speed_scale 1
    control_period_s: float = 0.01  # reference update and safety check period
    ik_position_tol_m: float = 0.002  # IK residual above this: no solution
    ik_rotation_tol_rad: float = 0.02
    goal_position_tol_m: float = 0.005  # TCP farther than this from a step's pose: tracking fault
    tracking_tol_rad: float = 0.1  # servo lag above this on any joint: tracking fault
    waypoint_spacing_m: float = 0.005  # LINEAR IK waypoints
    max_waypoint_jump_rad: float = 0.3  # a larger joint jump between waypoints: singular line
    gripper_timeout_s: float = 1.5
    slip_tol_m: float = 0.02  # the held object moving this far in the gripper: slip
    check_move_paths: bool = True  # sample a MOVE's joint path for collisions before moving

    def __post_init__(self) -> None:
        for name in (
            "joint_speed_rad_s",
            "linear_speed_m_s",
            "control_period_s",
            "ik_position_tol_m",
            "ik_rotation_tol_rad",
            "goal_position_tol_m",
            "tracking_tol_rad",
            "waypoint_spacing_m",
            "max_waypoint_jump_rad",
            "gripper_timeout_s",
            "slip_tol_m",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise SimError(f"SimArmOptions.{name} must be positive, got {value!r}")


class StopError(Exception):
    """Raised inside a step to end the plan with a typed fault."""

    def __init__(self, fault: SimFault, message: str) -> None:
        super().__init__(message)
        self.fault = fault
        self.message = message


class SimArmRig(Protocol):
    """One robot's arm(s) and hand in a compiled scene: what the executor asks of a robot.

    ``kinematics`` is the arm in use (a rig with two arms switches in ``plan_in_base``);
    ``gripper_bodies`` the hand's bodies and ``finger_side`` which of them oppose each other in a
    grasp ("left" / "right"); ``via_heights_m`` the heights above the table a low MOVE crosses at
    (highest first; empty: straight joint moves only).
    """

    name: str
    kinematics: ArmKinematics
    gripper_bodies: frozenset[int]
    finger_side: dict[int, str]
    via_heights_m: tuple[float, ...]

    def plan_in_base(self, plan: StepPlan, holding: bool) -> tuple[StepPlan, bool]:
        """The plan with its poses in base_link, and whether the arm in use changed; raises
        StopError (REJECTED) for a frame the robot does not take."""

    def servo_command(self, q_ref: FloatArray, qd_ref: FloatArray) -> None:
        """Set the arm servos' set-points for reference ``q_ref`` moving at ``qd_ref``."""

    def set_hand(self, closed: bool) -> None:
        """Command the hand closed or open."""

    def hand_speed(self) -> float:
        """Fastest hand joint speed (rad/s): the hand has stalled when this stays small."""

    def hand_angle(self) -> float:
        """One hand joint's angle (rad), for messages; for a gripper driver, its position."""

    def hand_effort(self) -> float:
        """The hand actuators' force (N or N m, summed), for a gripper's reported effort."""

    def set_hand_position(self, position: float) -> None:
        """Command the hand to a position in its driver's units (the 2F-85: 0.0 open .. 0.8
        closed, as ros2_robotiq_gripper takes it)."""

    def seeds(self, target: Transform, q0: FloatArray) -> list[FloatArray]:
        """IK seeds for ``target``, the current arm ``q0`` first."""


@dataclass
class _Held:
    body: int
    name: str
    T_tcp_from_object: Transform


class SimArmBackend:
    """A ManipulationBackend on a ``SimScene`` built with ``dynamic_objects=True``, moving the
    robot through ``rig`` (made by ``make_rig(model, data, scene)``; its SimError makes the backend
    unavailable). It steps the scene's own ``MjData``; use it from one thread."""

    def __init__(
        self,
        scene: SimScene,
        make_rig: Callable[[Any, Any, SimScene], SimArmRig],
        options: SimArmOptions | None = None,
    ) -> None:
        self.scene = scene
        self.options = options or SimArmOptions()
        self.name = f"sim_{scene.robot_name}"
        self.last_fault: SimFault | None = None
        self._mj: Any = import_mujoco()
        self._model: Any = scene.model
        self._data: Any = scene.data
        self._why_unavailable = ""
        self._held: _Held | None = None
        self._cancelled: Callable[[], bool] = lambda: False
        self._wall_anchor: tuple[float, float] | None = None
        self._has_arm = False
        try:
            self.rig = make_rig(self._model, self._data, scene)
        except SimError as err:
            self._why_unavailable = f"unavailable: {err}"
            return
        self._has_arm = True
        if not scene.dynamic_objects:
            self._why_unavailable = (
                "unavailable: the scene's objects are static; build it with dynamic_objects=True"
            )
        self._object_names = {
            int(self._model.body(obj.name).id): obj.name for obj in self.scene.spec.objects
        }
        self._substeps = max(1, round(self.options.control_period_s / self._model.opt.timestep))
        self._q_ref = self.arm_q()
        self._hold_command(self._q_ref)

    @property
    def kinematics(self) -> ArmKinematics:
        """The arm in use."""
        return self.rig.kinematics

    # ---- queries ----

    def available(self) -> tuple[bool, str]:
        return (not self._why_unavailable, self._why_unavailable)

    @property
    def sim_time_s(self) -> float:
        return float(self._data.time)

    def arm_q(self) -> FloatArray:
        """(6,) measured arm joint angles in radians."""
        return np.array(self._data.qpos[self.kinematics.qpos_index], dtype=np.float64)

    def tcp_pose(self) -> Transform:
        """Measured ``T_base_from_tcp``."""
        return self.kinematics.fk(self.arm_q())

    def object_pose(self, name: str) -> Transform:
        """``T_base_from_object`` of a scene object (by its body name, e.g. ``obj3_apple``)."""
        body = self._data.body(name)
        w, x, y, z = (float(c) for c in body.xquat)
        p = body.xpos
        return Transform((float(p[0]), float(p[1]), float(p[2])), (x, y, z, w))

    def object_speed_m_s(self, name: str) -> float:
        """Linear speed of an object's centre of mass."""
        return float(np.linalg.norm(self._data.body(name).cvel[3:]))

    @property
    def held_object(self) -> str | None:
        """Name of the object between the fingers since the last CLOSE, if any."""
        return self._held.name if self._held else None

    def solve_ik(self, target: Transform, seed: npt.ArrayLike | None = None) -> IkSolution:
        """The best IK solution for a TCP pose, from ``seed`` (default: the current arm) and from
        a ready pose facing the target; judge it with ``IkSolution.within``."""
        q0 = self.arm_q() if seed is None else np.asarray(seed, dtype=np.float64)
        candidates = [self.kinematics.solve(target, s) for s in self.rig.seeds(target, q0)]
        return min(candidates, key=lambda c: c.position_error_m + 0.1 * c.rotation_error_rad)

    # ---- running ----

    @property
    def reference_q(self) -> FloatArray:
        """The arm servos' current set-point (where a controller holds the arm), not the
        measured angles: under a load the arm sits a little off it."""
        return self._q_ref.copy()

    def servo_period(self, q_ref: FloatArray, qd_ref: FloatArray) -> None:
        """One control period of the arm servos tracking ``q_ref`` moving at ``qd_ref``, without
        the executor's checks (a controller's own tick: ``sim.arms.controllers``); paced to the
        wall clock with ``realtime`` inside ``paced()``."""
        self._q_ref = np.asarray(q_ref, dtype=np.float64)
        self._hold_command(self._q_ref, np.asarray(qd_ref, dtype=np.float64))
        for _ in range(self._substeps):
            self._mj.mj_step(self._model, self._data)
        self._pace()

    @contextlib.contextmanager
    def paced(self) -> Iterator[None]:
        """Simulated time runs at wall-clock speed inside (with ``realtime``)."""
        self._wall_anchor = (time.monotonic(), self.sim_time_s)
        try:
            yield
        finally:
            self._wall_anchor = None

    def hand_effort(self) -> float:
        return self.rig.hand_effort()

    def arm_qd(self) -> FloatArray:
        """(n,) measured arm joint speeds in rad/s."""
        return np.array(self._data.qvel[self.kinematics.dof_index], dtype=np.float64)

    def hold(self, duration_s: float, each_period: Callable[[], None] | None = None) -> None:
        """Let the simulation run with the arm held at its reference (objects settle), calling
        ``each_period()`` after every control period (a driver's state publishing); SimError
        when the scene has no arm."""
        if not self._has_arm:
            raise SimError(self._why_unavailable)
        self._wall_anchor = (time.monotonic(), self.sim_time_s)
        try:
            for _ in range(max(1, math.ceil(duration_s / self.options.control_period_s))):
                self._tick(self._q_ref, np.zeros_like(self._q_ref))
                if each_period is not None:
                    each_period()
        finally:
            self._wall_anchor = None

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        """Run the steps in order; stop at the first failure or when ``cancelled()``."""
        self.last_fault = None
        ok, why = self.available()
        if not ok:
            return self._failed(SimFault.UNAVAILABLE, why, None, ())
        try:
            plan = self._plan_in_base(plan)
        except StopError as stop:
            return self._failed(stop.fault, stop.message, None, ())
        self._cancelled = cancelled or (lambda: False)
        self._wall_anchor = (time.monotonic(), self.sim_time_s)
        try:
            return self._run_plan(plan, on_step)
        finally:
            self._cancelled = lambda: False
            self._wall_anchor = None

    def _plan_in_base(self, plan: StepPlan) -> StepPlan:
        """The plan in base_link (the rig may switch arms: the reference then follows)."""
        plan, switched = self.rig.plan_in_base(plan, self._held is not None)
        if switched:
            self._q_ref = self.arm_q()
        return plan

    def _run_plan(self, plan: StepPlan, on_step: StepCallback | None) -> ExecutionResult:
        durations: list[float] = []
        for index, step in enumerate(plan.steps):
            start = self.sim_time_s
            try:
                if self._cancelled():
                    raise StopError(SimFault.CANCELED, "canceled")
                if on_step is not None:
                    on_step(index, step)
                self._run_step(step)
            except StopError as stop:
                durations.append(self.sim_time_s - start)
                self._q_ref = self.arm_q()  # stop where we are
                self._hold_command(self._q_ref)
                message = stop.message
                if stop.fault is SimFault.CANCELED:
                    message = f"canceled at step {index} ({step.label!r})"
                return self._failed(stop.fault, message, index, tuple(durations))
            durations.append(self.sim_time_s - start)
        return ExecutionResult(
            ExecutionStatus.SUCCEEDED, f"{len(plan.steps)} steps done", None, tuple(durations)
        )

    def _failed(
        self, fault: SimFault, message: str, index: int | None, durations: tuple[float, ...]
    ) -> ExecutionResult:
        self.last_fault = fault
        return ExecutionResult(_STATUS_OF_FAULT[fault], message, index, durations)

    def _run_step(self, step: Step) -> None:
        if step.kind in (StepKind.MOVE, StepKind.LINEAR):
            if step.tcp_pose is None:
                raise StopError(
                    SimFault.REJECTED, f"step {step.label!r} ({step.kind.value}) has no pose"
                )
            if not 0.0 < step.speed_scale <= 1.0:
                raise StopError(
                    SimFault.REJECTED,
                    f"step {step.label!r}: speed_scale {step.speed_scale} not in (0, 1]",
                )
            if step.kind is StepKind.MOVE:
                self._move(step, step.tcp_pose)
            elif self._held is not None and step.stage is Stage.PLACE:
                if self._linear(step, step.tcp_pose, until=self._held_touches_down):
                    self._settle_here()
                    return
            else:
                self._linear(step, step.tcp_pose)
            self._settle_at(step, step.tcp_pose)
        elif step.kind is StepKind.CLOSE:
            self._hand(closed=True)
            self._grasp_check(step)
        else:
            self._held = None
            self._hand(closed=False)

    # ---- motions ----

    def _move(self, step: Step, target: Transform) -> None:
        """A MOVE that ends low over the table (a pre-grasp or pre-place near the objects), on a
        rig with via heights, goes over them: rise straight up to a via height, cross at that
        height (a straight line, or a joint move where the line has no IK), then come straight
        down. The via height is the highest of the rig's that the hand reaches (near the G1's
        chest the level hand cannot go high); else a joint move."""
        if self.rig.via_heights_m and (
            math.dist(self.tcp_pose().translation, target.translation) >= 0.02
        ):
            for via_z in self.rig.via_heights_m:
                if target.translation[2] >= via_z:
                    break
                try:
                    self._via(step, target, via_z)
                    return
                except StopError as stop:
                    if stop.fault is not SimFault.IK_UNREACHABLE:
                        raise
        self._joint_move(step, target)

    def _via(self, step: Step, target: Transform, via_z: float) -> None:
        start = self.tcp_pose()
        sx, sy, sz = start.translation
        if sz < via_z - 0.01:
            self._linear(step, Transform((sx, sy, via_z), start.quat_xyzw))
        x, y, _ = target.translation
        above = Transform((x, y, via_z), target.quat_xyzw)
        try:
            self._linear(step, above)
        except StopError as stop:
            if stop.fault is not SimFault.IK_UNREACHABLE:
                raise
            self._joint_move(step, above)
        self._linear(step, target)

    def _joint_move(self, step: Step, target: Transform) -> None:
        q0 = self.arm_q()
        ignore = self._ignored_bodies()
        best: tuple[float, FloatArray] | None = None
        residual = math.inf
        for seed in self.rig.seeds(target, q0):
            sol = self.kinematics.solve(target, seed)
            residual = min(residual, sol.position_error_m)
            if not sol.within(self.options.ik_position_tol_m, self.options.ik_rotation_tol_rad):
                continue
            if self.kinematics.contacts_at(sol.q, self._data.qpos, ignore):
                continue
            cost = float(np.max(np.abs(sol.q - q0)))
            if best is None or cost < best[0]:
                best = (cost, sol.q)
        if best is None:
            raise StopError(
                SimFault.IK_UNREACHABLE,
                f"no collision-free IK solution for {step.label!r} at {_xyz(target)} "
                f"(best residual {residual * 1e3:.1f} mm)",
            )
        path = np.stack([q0, best[1]])
        if self.options.check_move_paths:
            self._check_path(step, path, ignore)
        duration = _QUINTIC_PEAK * best[0] / (self.options.joint_speed_rad_s * step.speed_scale)
        self._follow(path, duration)

    def _linear(
        self, step: Step, target: Transform, until: Callable[[], bool] | None = None
    ) -> bool:
        """Track the straight TCP line to ``target``; True when ``until()`` stopped it early."""
        start = self.tcp_pose()
        distance = math.dist(start.translation, target.translation)
        angle = rotation_angle(start, target)
        n = max(2, math.ceil(distance / self.options.waypoint_spacing_m), math.ceil(angle / 0.05))
        q = self.arm_q()
        path = [q]
        for i in range(1, n + 1):
            pose = interpolate(start, target, i / n)
            sol = self.kinematics.solve(pose, q, max_iterations=100)
            if not sol.within(self.options.ik_position_tol_m, self.options.ik_rotation_tol_rad):
                raise StopError(
                    SimFault.IK_UNREACHABLE,
                    f"no IK solution on the line of {step.label!r} at {_xyz(pose)} "
                    f"(residual {sol.position_error_m * 1e3:.1f} mm)",
                )
            if float(np.max(np.abs(sol.q - q))) > self.options.max_waypoint_jump_rad:
                raise StopError(
                    SimFault.IK_UNREACHABLE,
                    f"the line of {step.label!r} passes a singularity near {_xyz(pose)}",
                )
            q = sol.q
            path.append(q)
        joints = np.stack(path)
        joint_travel = float(np.max(np.sum(np.abs(np.diff(joints, axis=0)), axis=0)))
        speed = step.speed_scale
        duration = _QUINTIC_PEAK * max(
            distance / (self.options.linear_speed_m_s * speed),
            joint_travel / (self.options.joint_speed_rad_s * speed),
        )
        return self._follow(joints, duration, until)

    def _check_path(self, step: Step, path: FloatArray, ignore: frozenset[int]) -> None:
        """Sample the piecewise-linear joint path every ~0.05 rad for contacts."""
        for a, b in itertools.pairwise(path):
            n = max(2, math.ceil(float(np.max(np.abs(b - a))) / 0.05))
            for s in np.linspace(0.0, 1.0, n + 1):
                pairs = self.kinematics.contacts_at(a + s * (b - a), self._data.qpos, ignore)
                if pairs:
                    raise StopError(
                        SimFault.PATH_IN_COLLISION,
                        f"the joint path of {step.label!r} runs {self._describe_contact(pairs[0])}",
                    )

    def _follow(
        self, path: FloatArray, duration_s: float, until: Callable[[], bool] | None = None
    ) -> bool:
        """Track a piecewise-linear joint path (K, 6) under a quintic time scaling; stop early
        (returning True) as soon as ``until()`` holds."""
        duration_s = max(duration_s, _MIN_SEGMENT_S)
        lengths = np.linalg.norm(np.diff(path, axis=0), axis=1)
        arc = np.concatenate([[0.0], np.cumsum(lengths)])
        total = float(arc[-1])
        if total < 1e-9:
            return False
        dt = self.options.control_period_s
        for k in range(1, math.ceil(duration_s / dt) + 1):
            tau = min(1.0, k * dt / duration_s)
            s = total * (10 * tau**3 - 15 * tau**4 + 6 * tau**5)
            ds = total * (30 * tau**2 - 60 * tau**3 + 30 * tau**4) / duration_s
            i = min(int(np.searchsorted(arc, s, side="right")) - 1, len(lengths) - 1)
            direction = (path[i + 1] - path[i]) / max(float(lengths[i]), 1e-12)
            q_ref = path[i] + direction * (s - arc[i])
            self._tick(q_ref, direction * ds)
            if until is not None and until():
                return True
        return False

    def _settle_here(self) -> None:
        """Stop where the arm is (after a guarded move) and let it come to rest."""
        self._q_ref = self.arm_q()
        for _ in range(math.ceil(0.2 / self.options.control_period_s)):
            self._tick(self._q_ref, np.zeros_like(self._q_ref))

    def _held_touches_down(self) -> bool:
        """Whether the held object touches anything but the gripper (a guarded place's end)."""
        held = self._held
        if held is None:
            return False
        data, model = self._data, self._model
        robot = self.kinematics.robot_bodies
        for i in range(int(data.ncon)):
            contact = data.contact[i]
            b1 = int(model.geom_bodyid[contact.geom1])
            b2 = int(model.geom_bodyid[contact.geom2])
            if float(contact.dist) <= 0.0 and held.body in (b1, b2):
                other = b2 if b1 == held.body else b1
                if other not in robot:
                    return True
        return False

    def _gripper_blocked_by(self) -> str | None:
        """Name of an object (not the held one) or the table that the gripper touches."""
        ignore = self._ignored_bodies()
        pairs = robot_contacts(self._model, self._data, self.kinematics.robot_bodies, ignore)
        for robot, other in pairs:
            if robot in self.rig.gripper_bodies:
                return self._object_names.get(other) or str(self._model.body(other).name)
        return None

    def _settle_at(self, step: Step, target: Transform) -> None:
        """Wait (at most 0.5 s) for the arm to stop at its reference, then check the TCP pose."""
        for _ in range(math.ceil(0.5 / self.options.control_period_s)):
            lag = float(np.max(np.abs(self.arm_q() - self._q_ref)))
            speed = float(np.max(np.abs(self._data.qvel[self.kinematics.dof_index])))
            if lag < 2e-3 and speed < 0.02:
                break
            self._tick(self._q_ref, np.zeros_like(self._q_ref))
        error = math.dist(self.tcp_pose().translation, target.translation)
        if error > self.options.goal_position_tol_m:
            blocking = self._gripper_blocked_by()
            if blocking is not None:
                raise StopError(
                    SimFault.COLLISION,
                    f"the gripper is pressed against {blocking}, {error * 1e3:.1f} mm short "
                    f"of {step.label!r} at {_xyz(target)}",
                )
            raise StopError(
                SimFault.TRACKING,
                f"the TCP stopped {error * 1e3:.1f} mm from {step.label!r} at {_xyz(target)}",
            )

    # ---- gripper ----

    def _hand(self, closed: bool) -> None:
        """Close or open the hand; returns when its joints stall (or at the timeout)."""
        self.rig.set_hand(closed)
        dt = self.options.control_period_s
        still = 0
        for k in range(math.ceil(self.options.gripper_timeout_s / dt)):
            self._tick(self._q_ref, np.zeros_like(self._q_ref))
            still = 0 if self.rig.hand_speed() > 0.05 else still + 1
            if k * dt > 0.3 and still * dt >= 0.1:
                break

    def _grasp_check(self, step: Step) -> None:
        touched = self._finger_contacts()
        both = touched["left"] & touched["right"]
        if not both:
            angle = self.rig.hand_angle()
            raise StopError(
                SimFault.EMPTY_GRASP,
                f"the gripper closed on nothing at {step.label!r} (fingers at {angle:.2f} rad)",
            )
        body = min(both)
        name = self._object_names.get(body, str(self._model.body(body).name))
        T_tcp_from_object = self.tcp_pose().inverse() @ self.object_pose(name)
        self._held = _Held(body, name, T_tcp_from_object)

    def _finger_contacts(self) -> dict[str, set[int]]:
        """Bodies (not the robot's) touched by the left and by the right finger."""
        touched: dict[str, set[int]] = {"left": set(), "right": set()}
        data, model = self._data, self._model
        for i in range(int(data.ncon)):
            contact = data.contact[i]
            if float(contact.dist) > 0.0:
                continue
            b1 = int(model.geom_bodyid[contact.geom1])
            b2 = int(model.geom_bodyid[contact.geom2])
            for finger, other in ((b1, b2), (b2, b1)):
                side = self.rig.finger_side.get(finger)
                if side is not None and other not in self.kinematics.robot_bodies:
                    touched[side].add(other)
        return touched

    # ---- the control tick ----

    def _tick(self, q_ref: FloatArray, qd_ref: FloatArray) -> None:
        """Set the servo references, advance one control period, then run the safety checks."""
        self._q_ref = q_ref
        self._hold_command(q_ref, qd_ref)
        for _ in range(self._substeps):
            self._mj.mj_step(self._model, self._data)
        self._pace()
        if self._cancelled():
            raise StopError(SimFault.CANCELED, "canceled")
        self._check_contacts()
        lag = np.abs(self.arm_q() - q_ref)
        if float(np.max(lag)) > self.options.tracking_tol_rad:
            joint = int(np.argmax(lag))
            raise StopError(
                SimFault.TRACKING,
                f"joint {joint} lags its reference by {float(lag[joint]):.3f} rad",
            )
        self._check_held()

    def _hold_command(self, q_ref: FloatArray, qd_ref: FloatArray | None = None) -> None:
        self.rig.servo_command(q_ref, np.zeros_like(q_ref) if qd_ref is None else qd_ref)

    def _check_contacts(self) -> None:
        pairs = robot_contacts(self._model, self._data, self.kinematics.robot_bodies, frozenset())
        for robot, other in pairs:
            if other == self.kinematics.table_body or robot not in self.rig.gripper_bodies:
                raise StopError(
                    SimFault.COLLISION, "collision: " + self._describe_contact((robot, other))
                )

    def _check_held(self) -> None:
        held = self._held
        if held is None:
            return
        expected = self.tcp_pose() @ held.T_tcp_from_object
        actual = self.object_pose(held.name)
        drift = math.dist(expected.translation, actual.translation)
        if drift > self.options.slip_tol_m:
            self._held = None
            raise StopError(
                SimFault.SLIP,
                f"the {held.name} slipped {drift * 1e2:.1f} cm out of the gripper",
            )

    def _pace(self) -> None:
        if not self.options.realtime or self._wall_anchor is None:
            return
        wall0, sim0 = self._wall_anchor
        ahead = (self.sim_time_s - sim0) - (time.monotonic() - wall0)
        if ahead > 0:
            time.sleep(ahead)

    # ---- helpers ----

    def _ignored_bodies(self) -> frozenset[int]:
        return frozenset({self._held.body}) if self._held else frozenset()

    def _describe_contact(self, pair: tuple[int, int]) -> str:
        robot, other = pair
        what = self._object_names.get(other) or str(self._model.body(other).name) or "world"
        return f"{self._model.body(robot).name} into {what}"


def _xyz(pose: Transform) -> str:
    x, y, z = pose.translation
    return f"({x:.3f}, {y:.3f}, {z:.3f})"
