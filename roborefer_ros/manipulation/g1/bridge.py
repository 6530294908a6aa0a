"""Execute a ``StepPlan`` on the G1's arms and Dex3 hands (ROS-free; the ROS side is ``G1Io``).

Order: the plan frame is checked (``torso_link``, else REJECTED); a fresh ``LowState`` is
awaited; then every pose is solved by IK **before anything moves** (seeded from the measured
joints, each LINEAR step cut into ``linear_step_m`` pieces solved in sequence), so an unreachable
pose fails as PLANNING_FAILED with the arm still under the locomotion controller. The arm on the
side of the first pose is tried first, then the other one; for each arm the place half of the
plan (PLACE and RETREAT steps) may be turned about the vertical through each TCP by one of
``place_yaw_offsets_rad`` (the held object turns with the hand and still lands upright on the
same point; a level hand placing across the body or far out needs it). Without a depth frame
(``scene``) the first combination whose every pose solves is executed.

With one, the place half is also checked against the scene, as MoveIt checks a plan against its
octomap: the frame becomes a height map in the plan frame (``manipulation.obstacles``; the arms,
at the measured joints, filtered out; the object the plan grasps taken out), and the arm's
spheres (``arm_collision``) along the joint-space lines from the lift to the end of the plan,
holding the object until OPEN, give the deepest intrusion. The candidates, in order: the place
yaws; then the lift-to-pre-place move as a straight TCP path, level or risen by
``carry_rises_m``; then the place half shifted by ``place_shifts_m`` along +-x and +-y. The first
that clears (``obstacle_tolerance_m``) is executed; when none does, the least intruding if it
only brushes (``obstacle_accept_m``), else the plan as asked (the first that solves): in the
simulated scenes a deeper intrusion of every candidate meant a blocked arm whichever was taken,
and the plan as asked then succeeded most often (docs/benchmarks.md). The plan's first move, from
the arm where it hangs to the first pose, is checked too: when its joint-space swing meets the
scene, the arm swings to that pose risen by one of ``transit_rises_m`` and comes straight down
onto it if that meets the scene less (``PlanChoice.transit_rise_m``). When the plan does not
solve with an arm (its pick half, or no place candidate) and its first MOVE is straight above
its next pose (a frontal grasp's descent onto the pre-grasp), that arm tries again with the MOVE
lowered by ``lead_in_scales`` before the next arm is tried: near the chest the level hand cannot
rise far.

A pose of the place half that the IK reaches only to within ``place_position_tolerance_m`` (not
the IK's own, kept for the grasp) is accepted: a placement's tolerance, not a grasp's. When no
arm solves the plan at all and the bridge has the waist chain, the waist yaw is turned by each of
``waist_yaw_offsets_rad`` in turn: the plan (fixed to the pelvis, like the table) is expressed in
the turned torso and chosen as above; the run turns the waist first (``PlanChoice.waist_yaw_rad``).

Then the streamer ramps the arm_sdk weight up, walks the joint waypoints (rate-limited by the
streamer), opens/closes the hand on OPEN/CLOSE, and ramps the weight down at the end, on cancel
(CANCELED) and on an abort (EXECUTION_FAILED, with the reason). After the lift that follows a
CLOSE the hand's measured joints are read (``G1Io.latest_hand``): a hand whose closing joints all
reached ``empty_grasp_closure`` of their travel holds nothing, and the run stops there
(GRASP_FAILED, the empty hand opened again) instead of carrying an empty hand to the place.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.transforms import Transform, interpolate
from roborefer_ros.manipulation.g1.arm_collision import (
    ArmBodyModel,
    arm_spheres,
    path_penetration,
    waypoint_path,
)
from roborefer_ros.manipulation.g1.arm_sdk import (
    WAIST_SLOTS,
    WAIST_YAW_SLOT,
    ArmCommand,
    ArmStreamer,
    GravityModel,
    LowStateSample,
    Phase,
    StreamerConfig,
)
from roborefer_ros.manipulation.g1.hands import (
    HandCommand,
    HandConfig,
    HandLimits,
    HandStateSample,
    closed_on_nothing,
    closure,
    hand_command,
)
from roborefer_ros.manipulation.g1.kinematics import (
    BASE_FRAME,
    ArmChain,
    ArmSide,
    G1KinematicsError,
    IkOptions,
    IkSolution,
    WaistChain,
    solve_ik,
)
from roborefer_ros.manipulation.obstacles import (
    DepthView,
    HeightMap,
    HeightMapConfig,
    height_map_from_depth,
)
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    Stage,
    StepCallback,
    StepKind,
    StepPlan,
)

FloatArray = npt.NDArray[np.float64]


class G1Io(Protocol):
    """What the executor needs of the robot; the ROS adapter implements it with topics."""

    def latest_state(self) -> LowStateSample | None:
        """The newest LowState with its receive time (on ``now_s``'s clock), or None."""
        ...

    def latest_hand(self, side: ArmSide) -> HandStateSample | None:
        """The newest HandState of that hand with its receive time, or None."""
        ...

    def send_arm(self, command: ArmCommand) -> None: ...

    def send_hand(self, command: HandCommand) -> None: ...

    def now_s(self) -> float:
        """A monotonic clock in seconds."""
        ...

    def sleep_until(self, deadline_s: float) -> None: ...


@dataclass(frozen=True)
class G1BridgeConfig:
    plan_frame: str = BASE_FRAME
    streamer: StreamerConfig = field(default_factory=StreamerConfig)
    ik: IkOptions = field(default_factory=IkOptions)
    hand: HandConfig = field(default_factory=HandConfig)
    linear_step_m: float = 0.01  # LINEAR steps: IK every this many metres of TCP travel
    max_waypoint_jump_rad: float = 0.35  # a larger joint jump between LINEAR pieces: IK flipped
    goal_tolerance_rad: float = 0.05  # measured joints within this of the step's last waypoint
    settle_timeout_s: float = 3.0  # after the desired joints arrive
    # Before the hand opens or closes, the arm settles further (a release 2-3 cm above the
    # place drops the object; the goal tolerance is ~2 cm at the hand): up to grip_settle_s
    # more, then the hand acts anyway (the goal tolerance was met).
    grip_tolerance_rad: float = 0.015
    grip_settle_s: float = 1.0
    hand_duration_s: float = 0.8  # OPEN / CLOSE: stream the hand command this long
    # After the lift that follows a CLOSE: a hand whose closing joints all reached this share of
    # their travel holds nothing (GRASP_FAILED). None: not checked. The check needs a HandState
    # no older than hand_state_max_age_s; without one the grasp is reported as not verified.
    empty_grasp_closure: float | None = 0.95
    hand_state_max_age_s: float = 0.5
    state_wait_s: float = 1.0  # for a first fresh LowState
    # the place half of a plan turned about the vertical by these (tried in order, per arm)
    place_yaw_offsets_rad: tuple[float, ...] = (0.0, 0.35, -0.35, 0.7, -0.7)
    try_other_arm: bool = True  # when no place yaw solves with the arm on the target's side
    # With a depth frame of the scene (``G1Bridge(scene=...)``, module docstring): a candidate
    # whose deepest intrusion is within obstacle_tolerance_m clears the scene; when none does,
    # the least intruding is taken if within obstacle_accept_m, else the plan as asked.
    obstacle_tolerance_m: float = 0.005
    obstacle_accept_m: float = 0.03
    body: ArmBodyModel = field(default_factory=ArmBodyModel)
    height_map: HeightMapConfig = field(default_factory=HeightMapConfig)
    # routes tried from the lift to the pre-place when the joint-space one meets the scene:
    # a straight TCP path risen this much above its higher end on the way
    carry_rises_m: tuple[float, ...] = (0.0, 0.04)
    # and the plan's first move (from where the arm is): to its pose risen this much, in joint
    # space, then straight down onto it
    transit_rises_m: tuple[float, ...] = (0.05, 0.1)
    # and then the place half moved this far along +-x and +-y (within a placement's tolerance)
    place_shifts_m: tuple[float, ...] = (0.015,)
    self_filter_margin_m: float = 0.03  # depth points this close to the arms are the arms
    # A place or retreat pose the IK reaches only to within this (not ik.position_tolerance_m)
    # is accepted as reached: a placement's tolerance (the place shifts above move it 1.5 cm on
    # purpose), not a grasp's. At the edge of the arm's reach, across the body, the best
    # solution of a level hand misses by a few mm.
    place_position_tolerance_m: float = 0.015
    # When no arm solves the plan with the waist where it is, the waist yaw turned by these
    # (in order; needs the waist chain): the whole plan runs with the torso turned, the arm
    # reaching as if the targets had turned the other way.
    waist_yaw_offsets_rad: tuple[float, ...] = (0.25, -0.25, 0.5, -0.5)
    # The open Dex3 is one-sided: its palm and fingers reach palm_face_lateral_m from the palm
    # towards the thumb, the thumb lies back by the wrist. An object wider than twice the room
    # left there (the plan's grip_width_m) meets the palm's and fingers' front edges on its way
    # in and is pushed before the hand closes (6-63 mm, simulated boxes). Such a plan's
    # TCP moves towards the thumb until the object reaches into that band by at most
    # palm_overlap_m: ik.tcp_lateral_m, or palm_face_lateral_m + width / 2 - palm_overlap_m if
    # larger. None (the default: a hand of unknown shape): the TCP stays at ik.tcp_lateral_m;
    # the Dex3 (config/g1.yaml, the simulated G1): 0.01.
    palm_face_lateral_m: float = 0.023
    palm_overlap_m: float | None = None
    # A plan whose first MOVE is straight above its next pose (a frontal grasp's descent onto
    # the pre-grasp, GraspConfig.frontal_descent_m): when the plan does not solve with an arm
    # (in the simulated scenes: its pick half), that MOVE lowered to these fractions of its
    # height above the next pose, in turn, before the next arm. Near the chest the level hand
    # cannot rise far: the line down flips the IK or leaves the reach.
    lead_in_scales: tuple[float, ...] = (0.5,)

    def __post_init__(self) -> None:
        if self.plan_frame != BASE_FRAME:
            raise ValueError(
                f"the G1 bridge plans in {BASE_FRAME}, got plan_frame {self.plan_frame!r}"
            )
        for name in (
            "obstacle_tolerance_m",
            "obstacle_accept_m",
            "linear_step_m",
            "max_waypoint_jump_rad",
            "goal_tolerance_rad",
            "settle_timeout_s",
            "grip_tolerance_rad",
            "grip_settle_s",
            "hand_duration_s",
            "state_wait_s",
            "place_position_tolerance_m",
            "hand_state_max_age_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        empty = self.empty_grasp_closure
        if empty is not None and not (math.isfinite(empty) and 0.5 <= empty <= 1.0):
            raise ValueError(f"empty_grasp_closure must be in [0.5, 1] or None, got {empty!r}")
        offsets = self.place_yaw_offsets_rad
        if not offsets or not all(math.isfinite(v) and abs(v) <= math.pi for v in offsets):
            raise ValueError(f"place_yaw_offsets_rad must be 1+ angles in [-pi, pi], got {offsets}")
        for name in ("palm_face_lateral_m", "palm_overlap_m"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        scales = self.lead_in_scales
        if not all(math.isfinite(v) and 0.0 <= v < 1.0 for v in scales):
            raise ValueError(f"lead_in_scales must be fractions in [0, 1), got {scales}")
        turns = self.waist_yaw_offsets_rad
        if not all(math.isfinite(v) and 0.0 < abs(v) <= 1.0 for v in turns):
            raise ValueError(f"waist_yaw_offsets_rad must be angles in [-1, 1] rad, not 0: {turns}")


class _PlanningError(Exception):
    def __init__(self, step: int, message: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class _Segment:
    step: int
    waypoints: tuple[FloatArray, ...] = ()  # arm joint targets, in order
    closed: bool | None = None  # OPEN (False) / CLOSE (True); None: arm motion
    speed_scale: float = 1.0


_PLACE_STAGES = (Stage.PLACE, Stage.RETREAT)


def _first_place_step(plan: StepPlan) -> int:
    return next((i for i, s in enumerate(plan.steps) if s.stage in _PLACE_STAGES), len(plan.steps))


def _yawed(pose: Transform, yaw_rad: float) -> Transform:
    """``pose`` turned by ``yaw_rad`` about the vertical (the plan frame's z) through its origin."""
    turn = Transform(quat_xyzw=(0.0, 0.0, math.sin(yaw_rad / 2), math.cos(yaw_rad / 2)))
    return Transform(pose.translation, (turn @ Transform(quat_xyzw=pose.quat_xyzw)).quat_xyzw)


@dataclass(frozen=True)
class PlanChoice:
    """The (arm, place yaw) a plan runs with and how deep the scene reaches into its place
    half (``checked`` False: no height map, not checked)."""

    side: ArmSide
    place_yaw_rad: float
    carry_rise_m: float | None  # None: lift to pre-place in joint space
    place_shift_xy_m: tuple[float, float]
    segments: list[_Segment]
    intrusion_m: float
    checked: bool
    transit_rise_m: float | None = None  # None: to the first pose in joint space
    waist_yaw_rad: float | None = None  # the waist turned to this yaw first (None: held)


def _turned_plan(plan: StepPlan, T_turned_from_now: FloatArray) -> StepPlan:
    """``plan`` with every TCP pose expressed in the torso frame after the waist turned."""
    steps = tuple(
        step
        if step.tcp_pose is None
        else dataclasses.replace(
            step, tcp_pose=Transform.from_matrix(T_turned_from_now @ step.tcp_pose.as_matrix())
        )
        for step in plan.steps
    )
    return dataclasses.replace(plan, steps=steps)


def _lowered_lead_in(plan: StepPlan, scale: float) -> StepPlan | None:
    """``plan`` with its first MOVE lowered to ``scale`` of its height above the next pose, when
    it is straight above that pose (a lead-in descent); None when it has no such MOVE."""
    if len(plan.steps) < 2:
        return None
    lead, after = plan.steps[0], plan.steps[1]
    if lead.kind is not StepKind.MOVE or lead.tcp_pose is None or after.tcp_pose is None:
        return None
    (x0, y0, z0), (x1, y1, z1) = lead.tcp_pose.translation, after.tcp_pose.translation
    if math.hypot(x0 - x1, y0 - y1) > 1e-3 or z0 <= z1:
        return None
    lowered = _at_height(lead.tcp_pose, z1 + scale * (z0 - z1))
    steps = (dataclasses.replace(lead, tcp_pose=lowered), *plan.steps[1:])
    return dataclasses.replace(plan, steps=steps)


def _at_height(pose: Transform, z_m: float) -> Transform:
    x, y, _ = pose.translation
    return Transform((x, y, z_m), pose.quat_xyzw)


class _StopError(Exception):
    def __init__(self, status: ExecutionStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class G1Bridge:
    """A ``ManipulationBackend`` for the G1; ``io`` talks to the robot (or a fake)."""

    name = "g1"

    def __init__(
        self,
        config: G1BridgeConfig,
        io: G1Io,
        chains: dict[ArmSide, ArmChain],
        hand_limits: dict[ArmSide, HandLimits],
        gravity: GravityModel | None = None,
        scene: Callable[[], DepthView | None] | None = None,
        waist: WaistChain | None = None,
    ) -> None:
        """``gravity``: the upper body's hold torques, sent as feed-forward (None: PD only);
        ``scene``: the newest depth frame when a plan starts (None, or None returned: plans are
        not checked against the scene); ``waist``: the waist chain (None: the waist is held,
        never turned)."""
        self.config = config
        self.io = io
        self.chains = chains
        self.hand_limits = hand_limits
        self.gravity = gravity
        self.scene = scene
        self.last_height_map: HeightMap | None = None
        self.last_streamer: ArmStreamer | None = None  # for tests and diagnostics
        self.last_choice: PlanChoice | None = None
        self.waist = waist
        self._ik_memo: dict[object, IkSolution | G1KinematicsError] | None = None
        self._ik = config.ik  # the IK options of the plan being chosen (its TCP: ``ik_for``)

    def available(self) -> tuple[bool, str]:
        return True, ""

    def ik_for(self, plan: StepPlan) -> IkOptions:
        """The IK options for ``plan``: its TCP moved towards the thumb for a wide grip
        (``G1BridgeConfig.palm_overlap_m``)."""
        ik, overlap = self.config.ik, self.config.palm_overlap_m
        if overlap is None or plan.grip_width_m <= 0.0:
            return ik
        lateral = self.config.palm_face_lateral_m + plan.grip_width_m / 2 - overlap
        if lateral <= ik.tcp_lateral_m:
            return ik
        return dataclasses.replace(ik, tcp_lateral_m=lateral)

    # -- planning -------------------------------------------------------------------------------

    def plan_segments(
        self,
        plan: StepPlan,
        side: ArmSide,
        q_seed: FloatArray,
        place_yaw_rad: float = 0.0,
        carry_rise_m: float | None = None,
        place_shift_xy_m: tuple[float, float] = (0.0, 0.0),
        transit_rise_m: float | None = None,
        until_step: int | None = None,
    ) -> list[_Segment]:
        """Joint waypoints for every step (up to, not including, ``until_step``).
        ``carry_rise_m``: the first MOVE of the place half (lift to pre-place) becomes a straight
        TCP path instead of a joint-space line, risen by this much above the higher of its ends on
        the way (0: straight across). ``transit_rise_m``: the plan's first move goes in joint space
        to its pose risen by this much, then straight down onto it."""
        chain = self.chains[side]
        segments: list[_Segment] = []
        q_prev = q_seed.copy()
        pose_prev: Transform | None = None
        carry_step = next(
            (
                i
                for i, s in enumerate(plan.steps)
                if s.stage in _PLACE_STAGES and s.kind is StepKind.MOVE
            ),
            None,
        )
        rises: dict[int, float] = {}
        if carry_rise_m is not None and carry_step is not None:
            rises[carry_step] = carry_rise_m
        for index, step in enumerate(plan.steps):
            if until_step is not None and index >= until_step:
                break
            if step.kind in (StepKind.OPEN, StepKind.CLOSE):
                segments.append(_Segment(index, closed=step.kind is StepKind.CLOSE))
                continue
            if step.tcp_pose is None:
                raise _PlanningError(
                    index, f"{step.kind.value} step '{step.label}' has no tcp_pose"
                )
            target = step.tcp_pose
            if step.stage in _PLACE_STAGES:
                if place_yaw_rad:
                    target = _yawed(target, place_yaw_rad)
                if place_shift_xy_m != (0.0, 0.0):
                    x, y, z = target.translation
                    dx, dy = place_shift_xy_m
                    target = Transform((x + dx, y + dy, z), target.quat_xyzw)
            poses = [target]
            rise = rises.get(index)
            straight = step.kind is StepKind.LINEAR or rise is not None
            lead: list[Transform] = []  # reached in joint space (no jump check)
            if index == 0 and transit_rise_m:
                # to the first pose risen, in joint space; then straight down onto it
                lead = [_at_height(target, target.translation[2] + transit_rise_m)]
                pose_prev, straight = lead[0], True
            if straight and pose_prev is not None:
                corners = [pose_prev, target]
                if rise:
                    height = max(pose_prev.translation[2], target.translation[2]) + rise
                    corners = [
                        pose_prev,
                        _at_height(pose_prev, height),
                        _at_height(target, height),
                        target,
                    ]
                poses = list(lead)
                for start, end in itertools.pairwise(corners):
                    distance = float(
                        np.linalg.norm(np.subtract(end.translation, start.translation))
                    )
                    pieces = max(1, math.ceil(distance / self.config.linear_step_m))
                    poses += [interpolate(start, end, k / pieces) for k in range(1, pieces + 1)]
            waypoints = []
            placing = step.stage in _PLACE_STAGES
            for number, pose in enumerate(poses):
                try:
                    solution = self._solve(chain, pose, q_prev, placing)
                except G1KinematicsError as err:
                    raise _PlanningError(index, str(err)) from None
                if straight and pose_prev is not None and number >= len(lead):
                    jump = float(np.max(np.abs(solution.q - q_prev)))
                    if jump > self.config.max_waypoint_jump_rad:
                        raise _PlanningError(
                            index,
                            f"linear step '{step.label}': IK jumps {jump:.2f} rad between "
                            f"{self.config.linear_step_m * 1000:.0f} mm pieces "
                            f"(limit {self.config.max_waypoint_jump_rad:.2f} rad)",
                        )
                waypoints.append(solution.q)
                q_prev = solution.q
            pose_prev = target
            segments.append(_Segment(index, tuple(waypoints), speed_scale=step.speed_scale))
        return segments

    def _solve(
        self, chain: ArmChain, pose: Transform, q_seed: FloatArray, placing: bool = False
    ) -> IkSolution:
        """``solve_ik`` to the IK's tolerance; for a pose of the place half (``placing``) that
        misses it, again to ``place_position_tolerance_m`` (the first error kept)."""
        ik = self._ik
        try:
            return self._solve_with(chain, pose, q_seed, ik)
        except G1KinematicsError as err:
            loose = self.config.place_position_tolerance_m
            if not placing or err.reason != "ik" or loose <= ik.position_tolerance_m:
                raise
            try:
                return self._solve_with(
                    chain, pose, q_seed, dataclasses.replace(ik, position_tolerance_m=loose)
                )
            except G1KinematicsError:
                raise err from None

    def _solve_with(
        self, chain: ArmChain, pose: Transform, q_seed: FloatArray, options: IkOptions
    ) -> IkSolution:
        """``solve_ik``, remembered for the candidates of one ``choose_plan``: they share the
        pick half (the same poses from the same seeds give the same solutions), and a pose that
        no seed and restart reached is not tried again from another seed (the restarts span
        the joint space; the candidates' routes share their place poses)."""
        if self._ik_memo is None:
            return solve_ik(chain, pose.as_matrix(), q_seed, options)
        pose_key = (chain.side, pose.translation, pose.quat_xyzw, options)
        failed = self._ik_memo.get(pose_key)
        if isinstance(failed, G1KinematicsError):
            raise failed
        key = (*pose_key, q_seed.tobytes())
        found = self._ik_memo.get(key)
        if found is None:
            try:
                found = solve_ik(chain, pose.as_matrix(), q_seed, options)
            except G1KinematicsError as err:
                self._ik_memo[pose_key] = err
                raise
            self._ik_memo[key] = found
        assert isinstance(found, IkSolution)
        return found

    # -- execution ------------------------------------------------------------------------------

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> ExecutionResult:
        if plan.frame != self.config.plan_frame:
            return ExecutionResult(
                ExecutionStatus.REJECTED,
                f"plan frame is '{plan.frame}', the G1 bridge needs '{self.config.plan_frame}'",
            )
        first = next((s.tcp_pose for s in plan.steps if s.tcp_pose is not None), None)
        if first is None:
            return ExecutionResult(ExecutionStatus.REJECTED, "the plan has no pose to move to")
        side = ArmSide.for_target(float(first.translation[1]))
        if side not in self.chains:
            return ExecutionResult(ExecutionStatus.UNAVAILABLE, f"no {side.value} arm configured")
        sides = [side]
        other = ArmSide.RIGHT if side is ArmSide.LEFT else ArmSide.LEFT
        if self.config.try_other_arm and other in self.chains:
            sides.append(other)
        state = self._wait_state()
        if state is None:
            return ExecutionResult(
                ExecutionStatus.EXECUTION_FAILED,
                f"no fresh LowState within {self.config.state_wait_s:.1f} s: is the robot "
                "publishing /lowstate?",
            )
        if state.mode_machine != self.config.streamer.expected_mode_machine:
            return ExecutionResult(
                ExecutionStatus.REJECTED,
                f"LowState mode_machine is {state.mode_machine}, expected "
                f"{self.config.streamer.expected_mode_machine}: not the 29-DoF G1 this bridge "
                "knows",
            )
        try:
            side, segments = self.choose_plan(plan, sides, np.asarray(state.q, dtype=np.float64))
        except _PlanningError as err:
            return ExecutionResult(ExecutionStatus.PLANNING_FAILED, str(err), failed_step=err.step)
        waist = self.last_choice.waist_yaw_rad if self.last_choice is not None else None
        run = _Run(self, side, plan, segments, on_step, cancelled or (lambda: False), waist)
        return run.run(state)

    def choose_plan(
        self, plan: StepPlan, sides: list[ArmSide], q_measured: FloatArray
    ) -> tuple[ArmSide, list[_Segment]]:
        """The arm and segments of the first (arm, place yaw) whose every pose solves; the
        first arm's first error when none does (the arm on the target's side, unturned, is the
        plan as asked). With a depth frame, the first arm that solves runs the candidate chosen
        against the scene (module docstring); ``last_choice`` says which."""
        self._ik = self.ik_for(plan)
        scene = self._scene_for(plan, q_measured)
        self._ik_memo = {}
        try:
            return self._choose(plan, sides, q_measured, scene)
        except _PlanningError as err:
            if self.waist is None:
                raise
            return self._choose_turned(plan, sides, q_measured, scene, err)
        finally:
            self._ik_memo = None

    def _choose_turned(
        self,
        plan: StepPlan,
        sides: list[ArmSide],
        q_measured: FloatArray,
        scene: HeightMap | None,
        unturned: _PlanningError,
    ) -> tuple[ArmSide, list[_Segment]]:
        """``_choose`` with the waist yaw turned by each of ``waist_yaw_offsets_rad`` in turn:
        the plan's poses (fixed to the pelvis, as the table is) expressed in the turned torso."""
        assert self.waist is not None
        q_waist = q_measured[list(WAIST_SLOTS)]
        lower, upper = self.waist.yaw_limits
        margin = self.config.streamer.limit_margin_rad
        for offset in self.config.waist_yaw_offsets_rad:
            q_turned = q_waist.copy()
            q_turned[0] += offset
            if not lower + margin <= q_turned[0] <= upper - margin:
                continue
            T_turned_from_now = self.waist.torso_turn(q_waist, q_turned)
            T_scene_from_arm = np.asarray(np.linalg.inv(T_turned_from_now), dtype=np.float64)
            try:
                side, segments = self._choose(
                    _turned_plan(plan, T_turned_from_now),
                    sides,
                    q_measured,
                    scene,
                    T_scene_from_arm,
                )
            except _PlanningError:
                continue
            assert self.last_choice is not None
            self.last_choice = dataclasses.replace(
                self.last_choice, waist_yaw_rad=float(q_turned[0])
            )
            return side, segments
        turns = ", ".join(f"{v:+.2f}" for v in self.config.waist_yaw_offsets_rad)
        raise _PlanningError(unturned.step, f"{unturned}; nor with the waist turned by {turns} rad")

    def _choose(
        self,
        plan: StepPlan,
        sides: list[ArmSide],
        q_measured: FloatArray,
        scene: HeightMap | None,
        T_scene_from_arm: FloatArray | None = None,
    ) -> tuple[ArmSide, list[_Segment]]:
        """``choose_plan`` with the scene built; ``T_scene_from_arm``: the scene's frame from
        the arm's base (the torso turned by the waist; None: the same frame)."""
        has_place = any(s.stage in _PLACE_STAGES and s.tcp_pose is not None for s in plan.steps)
        yaws = self.config.place_yaw_offsets_rad if has_place else (0.0,)
        first_error: _PlanningError | None = None
        routes: tuple[float | None, ...] = (None,)
        shifts: list[tuple[float, float]] = [(0.0, 0.0)]
        if scene is not None and has_place:  # the scene's candidates (module docstring)
            routes = (None, *self.config.carry_rises_m)
            for d in self.config.place_shifts_m:
                shifts += [(d, 0.0), (-d, 0.0), (0.0, d), (0.0, -d)]
        lowered = (_lowered_lead_in(plan, s) for s in self.config.lead_in_scales)
        variants = [plan, *(v for v in lowered if v is not None)]
        for side, variant in itertools.product(sides, variants):
            q_seed = q_measured[list(side.motor_slots)]
            solved: list[PlanChoice] = []
            transits: list[float | None] = [None]
            if scene is not None:
                transit = self._choose_transit(variant, side, q_seed, scene, T_scene_from_arm)
                if transit is not None:
                    transits.insert(0, transit)  # the joint-space one if the pick half fails
            for transit in transits:
                for shift, rise, yaw in itertools.product(shifts, routes, yaws):
                    try:
                        segments = self.plan_segments(
                            variant, side, q_seed, yaw, rise, shift, transit_rise_m=transit
                        )
                    except _PlanningError as err:
                        if first_error is None:
                            first_error = err
                        if err.step < _first_place_step(plan):
                            break  # the pick half failed: no place yaw helps this arm
                        continue
                    intrusion = (
                        0.0
                        if scene is None
                        else self._place_intrusion(variant, side, segments, scene, T_scene_from_arm)
                    )
                    solved.append(
                        PlanChoice(
                            side,
                            yaw,
                            rise,
                            shift,
                            segments,
                            intrusion,
                            scene is not None,
                            transit,
                        )
                    )
                    if intrusion <= self.config.obstacle_tolerance_m:
                        self.last_choice = solved[-1]
                        return side, segments
                if solved:
                    break
            if solved:
                # none clears the scene: the least intruding when it only brushes, else the
                # plan as asked (as far as it solves)
                best = min(solved, key=lambda c: c.intrusion_m)
                if best.intrusion_m > self.config.obstacle_accept_m:
                    best = solved[0]
                self.last_choice = best
                return side, best.segments
        assert first_error is not None
        tried = f"{len(sides)} arm(s) x {len(yaws)} place yaw(s)"
        raise _PlanningError(first_error.step, f"{first_error} (tried {tried})")

    def _choose_transit(
        self,
        plan: StepPlan,
        side: ArmSide,
        q_seed: FloatArray,
        scene: HeightMap,
        T_scene_from_arm: FloatArray | None = None,
    ) -> float | None:
        """The route of the plan's first move, from the arm at ``q_seed``: the joint-space line
        to its pose unless the swing to that pose risen by one of ``transit_rises_m``, then
        straight down, meets the scene less by more than ``obstacle_tolerance_m`` (a hand
        swinging up from the hip in joint space sweeps the objects between the robot and its
        target)."""
        body = self._body_model()
        best_route: float | None = None
        best = math.inf
        for route in (None, *self.config.transit_rises_m):
            try:
                segments = self.plan_segments(
                    plan, side, q_seed, transit_rise_m=route, until_step=1
                )
            except _PlanningError:
                continue
            waypoints = [w for segment in segments for w in segment.waypoints]
            states = waypoint_path(q_seed, waypoints, body.step_rad)
            intrusion = path_penetration(
                self.chains[side], states, scene, body, None, T_scene_from_arm
            )
            if intrusion < best - self.config.obstacle_tolerance_m:
                best_route, best = route, intrusion
            if best <= self.config.obstacle_tolerance_m:
                break
        return best_route

    def _body_model(self) -> ArmBodyModel:
        """The arm's spheres about the configured grasp point (where the hand's parts were
        measured), the held object's at the plan's (``ik_for``)."""
        ik = self.config.ik
        return dataclasses.replace(
            self.config.body,
            tcp_offset_m=ik.tcp_offset_m,
            tcp_lateral_m=ik.tcp_lateral_m,
            held_lateral_m=self._ik.tcp_lateral_m - ik.tcp_lateral_m,
        )

    def _scene_for(self, plan: StepPlan, q_measured: FloatArray) -> HeightMap | None:
        """The height map of the newest depth frame, the arms (at ``q_measured``) filtered out,
        without the object the plan grasps (the one under its TCP at the CLOSE)."""
        self.last_height_map = None
        view = self.scene() if self.scene is not None else None
        if view is None:
            return None
        body = self._body_model()
        centres, radii = [], []
        for side, chain in self.chains.items():
            c, r = arm_spheres(chain, q_measured[list(side.motor_slots)], body)
            centres.append(c)
            radii.append(r + self.config.self_filter_margin_m)
        try:
            scene = height_map_from_depth(
                view, self.config.height_map, (np.concatenate(centres), np.concatenate(radii))
            )
        except ValueError:
            return None  # nothing seen in the workspace: nothing to check against
        grasp: tuple[float, float, float] | None = None
        for step in plan.steps:
            if step.kind is StepKind.CLOSE and grasp is not None:
                scene = scene.without_object_at((float(grasp[0]), float(grasp[1])))
                break
            if step.tcp_pose is not None:
                grasp = step.tcp_pose.translation
        self.last_height_map = scene
        return scene

    def _place_intrusion(
        self,
        plan: StepPlan,
        side: ArmSide,
        segments: list[_Segment],
        scene: HeightMap,
        T_scene_from_arm: FloatArray | None = None,
    ) -> float:
        """The deepest intrusion of the scene into the arm on its way from the lift to the end
        of the plan (joint-space lines between the waypoints), holding the object until OPEN."""
        body = self._body_model()
        first_place = _first_place_step(plan)
        holding = any(s.kind is StepKind.CLOSE for s in plan.steps[:first_place])
        half_height = plan.object_half_height_m if holding else None
        q_prev: FloatArray | None = None
        deepest = 0.0
        for segment in segments:
            if segment.closed is False:
                half_height = None
            if segment.step < first_place or not segment.waypoints:
                if segment.waypoints:
                    q_prev = segment.waypoints[-1]
                continue
            waypoints = segment.waypoints
            if q_prev is None:  # a plan that starts with its place half: from its first pose
                q_prev, waypoints = waypoints[0], waypoints[1:]
            states = waypoint_path(q_prev, waypoints, body.step_rad)
            q_prev = segment.waypoints[-1]
            deepest = max(
                deepest,
                path_penetration(
                    self.chains[side], states, scene, body, half_height, T_scene_from_arm
                ),
            )
        return deepest

    def _wait_state(self) -> LowStateSample | None:
        deadline = self.io.now_s() + self.config.state_wait_s
        timeout = self.config.streamer.state_timeout_s
        while True:
            now = self.io.now_s()
            state = self.io.latest_state()
            if state is not None and now - state.received_s <= timeout:
                return state
            if now >= deadline:
                return None
            self.io.sleep_until(now + self.config.streamer.dt_s)


class _Run:
    def __init__(
        self,
        bridge: G1Bridge,
        side: ArmSide,
        plan: StepPlan,
        segments: list[_Segment],
        on_step: StepCallback | None,
        cancelled: Callable[[], bool],
        waist_yaw_rad: float | None = None,
    ) -> None:
        self.bridge = bridge
        self.waist_yaw_rad = waist_yaw_rad
        self.cfg = bridge.config
        self.io = bridge.io
        self.side = side
        self.plan = plan
        self.segments = segments
        self.on_step = on_step
        self.cancelled = cancelled
        self.streamer = ArmStreamer(self.cfg.streamer, dict(bridge.chains), bridge.gravity)
        bridge.last_streamer = self.streamer
        self.next_tick_s = 0.0
        self.hand: HandCommand | None = None
        self.durations: list[float] = []
        self.grasp_unverified = ""  # why the grasp could not be checked, if it could not

    def tick(self) -> None:
        state = self.io.latest_state()
        now = self.io.now_s()
        self.io.send_arm(self.streamer.tick(state, now))
        if self.hand is not None:
            self.io.send_hand(self.hand)
        dt = self.cfg.streamer.dt_s
        self.next_tick_s = max(self.next_tick_s + dt, now)  # never try to catch up in a burst
        self.io.sleep_until(self.next_tick_s)

    def guarded_tick(self) -> None:
        if self.cancelled():
            raise _StopError(ExecutionStatus.CANCELED, "cancelled")
        self.tick()
        if self.streamer.abort_reason:
            raise _StopError(
                ExecutionStatus.EXECUTION_FAILED, f"aborted: {self.streamer.abort_reason}"
            )

    def run(self, state: LowStateSample) -> ExecutionResult:
        self.next_tick_s = self.io.now_s()
        self.streamer.start(state)
        current = -1
        check_grasp = False
        try:
            while self.streamer.phase is Phase.RAMP_IN:
                self.guarded_tick()
            for segment, following in zip(self.segments, [*self.segments[1:], None], strict=True):
                current = segment.step
                started = self.io.now_s()
                if self.on_step is not None:
                    self.on_step(segment.step, self.plan.steps[segment.step])
                if self.waist_yaw_rad is not None:  # before the first step moves the arm
                    self.turn_waist(self.waist_yaw_rad)
                    self.waist_yaw_rad = None
                if segment.closed is not None:
                    self.run_hand(segment.closed)
                    check_grasp = segment.closed
                else:
                    self.run_arm(
                        segment, grip_next=following is not None and following.closed is not None
                    )
                    if check_grasp:  # the lift: the object is off the table or was never held
                        self.check_grasp()
                        check_grasp = False
                self.durations.append(self.io.now_s() - started)
        except _StopError as stop:
            if stop.status is ExecutionStatus.CANCELED:
                self.streamer.release()
            elif not self.streamer.abort_reason:
                self.streamer.abort(stop.message, self.io.now_s())
            if stop.status is ExecutionStatus.GRASP_FAILED:
                self.ready_empty_hand()
            self.wind_down()
            failed = current if current >= 0 else None  # < 0: during the ramp-in
            return ExecutionResult(stop.status, stop.message, failed, tuple(self.durations))
        self.streamer.release()
        self.wind_down()
        if self.streamer.abort_reason:  # while ramping out
            message = f"aborted while releasing: {self.streamer.abort_reason}"
            return ExecutionResult(
                ExecutionStatus.EXECUTION_FAILED, message, None, tuple(self.durations)
            )
        unverified = f" ({self.grasp_unverified})" if self.grasp_unverified else ""
        return ExecutionResult(
            ExecutionStatus.SUCCEEDED,
            f"done: {len(self.plan.steps)} steps{unverified}",
            None,
            tuple(self.durations),
        )

    def ready_empty_hand(self) -> None:
        """Open the hand that closed on nothing, fingers straight (nothing to drop): the next
        goal's approach would push its object with closed fingers. A hand that holds something
        stays closed whatever stops the run."""
        limits = self.bridge.hand_limits.get(self.side)
        if limits is not None:
            ready = dataclasses.replace(self.cfg.hand, open_spread_fraction=0.0)
            self.hand = hand_command(limits, False, ready)

    def check_grasp(self) -> None:
        """GRASP_FAILED when the closed hand holds nothing (``empty_grasp_closure``): the object
        was pushed away by the approach, slipped out on the lift, or was never between the
        fingers. A HandState older than ``hand_state_max_age_s`` is waited for (streaming on) as
        long again; without a fresh one the run goes on and says the grasp is unverified."""
        threshold = self.cfg.empty_grasp_closure
        limits = self.bridge.hand_limits.get(self.side)
        if threshold is None or limits is None:
            return
        max_age = self.cfg.hand_state_max_age_s
        deadline = self.io.now_s() + max_age
        while True:
            sample = self.io.latest_hand(self.side)
            age = None if sample is None else self.io.now_s() - sample.received_s
            if (age is not None and age <= max_age) or self.io.now_s() >= deadline:
                break
            self.guarded_tick()
        if sample is None or age is None or age > max_age:
            why = "none received" if sample is None else f"the newest is {age:.2f} s old"
            self.grasp_unverified = (
                f"grasp not verified: no fresh {self.side.value} HandState, {why}"
            )
            return
        if closed_on_nothing(limits, self.cfg.hand, sample.q, threshold):
            shares = closure(limits, self.cfg.hand, sample.q)
            low, high = f"{float(shares.min()):.0%}", f"{float(shares.max()):.0%}"
            raise _StopError(
                ExecutionStatus.GRASP_FAILED,
                f"the {self.side.value} hand holds nothing after the lift: every closing joint "
                f"reached {low if low == high else f'{low}-{high}'} of its travel "
                f"(>= {threshold:.0%}: nothing between the fingers)",
            )

    def wind_down(self) -> None:
        """Keep streaming until the weight is back at 0 (whatever happens meanwhile)."""
        while self.streamer.phase is not Phase.DONE:
            self.tick()

    def wait_within(
        self,
        target: FloatArray,
        tolerance_rad: float,
        timeout_s: float,
        slots: tuple[int, ...] | None = None,
    ) -> float:
        """Stream until the measured joints of ``slots`` (None: the arm's) are within
        ``tolerance_rad`` of ``target`` or ``timeout_s`` has passed; the last joint error (inf
        without a state)."""
        slots = self.side.motor_slots if slots is None else slots
        deadline = self.io.now_s() + timeout_s
        error = math.inf
        while True:
            state = self.io.latest_state()
            if state is not None:
                measured = np.asarray(state.q)[list(slots)]
                error = float(np.max(np.abs(measured - target)))
                if error <= tolerance_rad:
                    return error
            if self.io.now_s() >= deadline:
                return error
            self.guarded_tick()

    def turn_waist(self, yaw_rad: float) -> None:
        """Turn the waist (the arms held where they are relative to the torso) and wait for the
        measured yaw: within the goal tolerance within ``settle_timeout_s``."""
        target = self.streamer.set_waist_yaw(yaw_rad)
        while not self.streamer.waist_reached():
            self.guarded_tick()
        cfg = self.cfg
        error = self.wait_within(
            np.array([target]), cfg.goal_tolerance_rad, cfg.settle_timeout_s, (WAIST_YAW_SLOT,)
        )
        if error > cfg.goal_tolerance_rad:
            raise _StopError(
                ExecutionStatus.EXECUTION_FAILED,
                f"the waist did not settle within {cfg.settle_timeout_s:.1f} s "
                f"(yaw error {error:.3f} rad, tolerance {cfg.goal_tolerance_rad:.3f} rad)",
            )

    def run_hand(self, closed: bool) -> None:
        limits = self.bridge.hand_limits.get(self.side)
        if limits is None:
            raise _StopError(ExecutionStatus.UNAVAILABLE, f"no {self.side.value} hand configured")
        self.hand = hand_command(limits, closed, self.cfg.hand)
        end = self.io.now_s() + self.cfg.hand_duration_s
        while self.io.now_s() < end:
            self.guarded_tick()

    def run_arm(self, segment: _Segment, grip_next: bool = False) -> None:
        """Walk the segment and wait for the measured joints: within the goal tolerance within
        ``settle_timeout_s`` (else EXECUTION_FAILED); before a hand action, then for the grip
        tolerance, up to ``grip_settle_s`` (then the hand acts anyway)."""
        target = self.streamer.arm_desired(self.side)
        for waypoint in segment.waypoints:
            target = self.streamer.set_target(self.side, waypoint, segment.speed_scale)
            while not self.streamer.reached(self.side):
                self.guarded_tick()
        # the desired joints are there: wait for the measured ones
        cfg = self.cfg
        error = self.wait_within(target, cfg.goal_tolerance_rad, cfg.settle_timeout_s)
        if error > cfg.goal_tolerance_rad:
            raise _StopError(
                ExecutionStatus.EXECUTION_FAILED,
                f"the {self.side.value} arm did not settle within {cfg.settle_timeout_s:.1f} s "
                f"(joint error {error:.3f} rad, tolerance {cfg.goal_tolerance_rad:.3f} rad)",
            )
        if grip_next:  # closer still before the hand acts, then it acts anyway
            self.wait_within(target, cfg.grip_tolerance_rad, cfg.grip_settle_s)
