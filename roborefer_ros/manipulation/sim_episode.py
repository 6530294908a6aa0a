"""One pick-and-place episode in physics simulation, without a ROS graph.

Build a dynamic scene from a seed, draw (or resolve) a pick instruction (a LOCATE query on a
graspable object) and a place instruction (a PLACE query), take their ground-truth answers in
place of a model's, turn them into a StepPlan, execute it on the simulated UR5e and judge the
outcome by physics alone: did the named object come to rest upright on the table within the
tolerance of the instructed place point?

The plan builder is injectable (``PlanBuilder``), so the real grasp planner can replace the
minimal top-down planner here. Rendering goes to an optional ``FrameSink``; this module writes
no files.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from roborefer_ros.core.referring import normalise_prompt
from roborefer_ros.core.request import Mode
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.sim_ur5e import SimFault, SimUR5eBackend, SimUR5eOptions
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage, Step, StepKind, StepPlan
from roborefer_ros.sim import (
    BASE_FRAME,
    GeneratedQuery,
    ObjectKind,
    ObjectSpec,
    RenderedFrame,
    SimError,
    SimScene,
    build_scene,
    generate_referring,
)

Vec3 = tuple[float, float, float]
JsonDict = dict[str, object]  # (named before EpisodeResult, whose field ``object`` shadows it)

GRASPABLE_KINDS = frozenset({ObjectKind.APPLE, ObjectKind.BOX, ObjectKind.CUP})
MAX_GRIP_WIDTH_M = 0.075  # the 2F-85 opens 85 mm; keep 5 mm for the TCP's placement error
DEFAULT_TOLERANCE_M = 0.05
_QUERIES_PER_SCENE = 40  # generated per scene to choose the task from (and to resolve prompts)
_SETTLE_S = 0.3  # objects come to rest before the plan starts
_REST_S = 1.0  # after the plan, before judging
_MAX_TILT_RAD = math.radians(25.0)
_REST_SPEED_M_S = 0.02
_REST_HEIGHT_TOL_M = 0.02
_FINGER_REACH_M = 0.06  # outer end of an open 2F-85 finger from the TCP, along the closing axis


class EpisodeError(SimError):
    """A task that cannot be set up: unknown prompt, nothing graspable, unsupported robot."""


class FailureClass(Enum):
    """Why an episode failed; the value is the label the batch report counts."""

    IK_UNREACHABLE = "ik_unreachable"  # no IK solution (reach, orientation, singular line)
    PATH_BLOCKED = "path_blocked"  # the joint path of a MOVE runs through the table or an object
    COLLISION = "collision"  # the arm touched the table (or an arm link an object) while moving
    TRACKING = "tracking_error"  # a servo lagged its reference or the TCP missed a goal
    GRASP_MISSED = "grasp_missed"  # the fingers closed on nothing
    GRASP_SLIP = "grasp_slip"  # the object did not follow the gripper
    WRONG_OBJECT = "wrong_object"  # the fingers closed on another object than the named one
    PLACED_OFF_TARGET = "placed_off_target"  # at rest, but farther than the tolerance
    OBJECT_FELL = "object_fell"  # tipped over, still moving or not on the table
    NOT_GRASPABLE = "not_graspable"  # the planner refused the object (too wide for the gripper)
    CANCELED = "canceled"
    REJECTED = "rejected"  # the backend refused the plan


_FAILURE_OF_FAULT = {
    SimFault.IK_UNREACHABLE: FailureClass.IK_UNREACHABLE,
    SimFault.PATH_IN_COLLISION: FailureClass.PATH_BLOCKED,
    SimFault.COLLISION: FailureClass.COLLISION,
    SimFault.TRACKING: FailureClass.TRACKING,
    SimFault.EMPTY_GRASP: FailureClass.GRASP_MISSED,
    SimFault.SLIP: FailureClass.GRASP_SLIP,
    SimFault.CANCELED: FailureClass.CANCELED,
    SimFault.REJECTED: FailureClass.REJECTED,
    SimFault.UNAVAILABLE: FailureClass.REJECTED,
}


@dataclass(frozen=True)
class PickPlaceTargets:
    """What a plan builder gets: the two ground-truth answers and the named object's truth.

    ``pick_point``: the LOCATE answer, a visible point on the object's surface. ``place_point``:
    the PLACE answer, a free table point. ``pick_object``, ``pick_pose`` (``T_base_from_object``
    after settling) and ``obstacles`` (the other objects) are ground truth that a
    perception-only planner may ignore. All in ``frame`` (base_link), metres.
    """

    frame: str
    pick_point: Vec3
    place_point: Vec3
    pick_object: ObjectSpec
    pick_pose: Transform
    obstacles: tuple[ObjectSpec, ...] = ()


PlanBuilder = Callable[[PickPlaceTargets], StepPlan]
# (label, frame), label one of: start, grasp (closed), lift (carried), place (before opening), end
FrameSink = Callable[[str, RenderedFrame], None]


@dataclass(frozen=True)
class EpisodeTask:
    pick: GeneratedQuery  # LOCATE, target_index set
    place: GeneratedQuery  # PLACE


@dataclass(frozen=True)
class EpisodeTimings:
    """Wall-clock seconds per phase, and the simulated seconds the robot took."""

    build_s: float = 0.0
    referring_s: float = 0.0
    plan_s: float = 0.0
    execute_s: float = 0.0
    judge_s: float = 0.0
    total_s: float = 0.0
    robot_sim_s: float = 0.0


@dataclass(frozen=True)
class EpisodeResult:
    """The outcome of one episode. ``place_error_m``: xy distance of the object's resting
    centre from the place point, None when the plan did not run to the end."""

    seed: int
    success: bool
    object: str  # body name, e.g. "obj3_apple"; "" when no task was set up
    object_description: str
    pick_prompt: str
    place_prompt: str
    place_error_m: float | None
    status: ExecutionStatus
    failure_class: FailureClass | None
    message: str
    timings: EpisodeTimings = field(default_factory=EpisodeTimings)

    def as_dict(self) -> JsonDict:
        """JSON-ready: enums as their values, timings as a nested object."""
        return {
            "seed": self.seed,
            "success": self.success,
            "object": self.object,
            "object_description": self.object_description,
            "pick_prompt": self.pick_prompt,
            "place_prompt": self.place_prompt,
            "place_error_m": self.place_error_m,
            "status": self.status.value,
            "failure_class": None if self.failure_class is None else self.failure_class.value,
            "message": self.message,
            "timings": dataclasses.asdict(self.timings),
        }


def graspable(obj: ObjectSpec) -> bool:
    """Apples, boxes and cups (gripped across the body, away from the handle) that fit the
    2F-85 with a margin."""
    return obj.kind in GRASPABLE_KINDS and grip_width_m(obj) <= MAX_GRIP_WIDTH_M


def grip_width_m(obj: ObjectSpec) -> float:
    """Width between the fingers: a box across its shorter side, else the body's diameter."""
    if obj.kind is ObjectKind.BOX:
        return 2.0 * min(obj.dims_m[0], obj.dims_m[1])
    return 2.0 * obj.dims_m[0]


def draw_task(scene: SimScene, queries: list[GeneratedQuery]) -> EpisodeTask:
    """The first LOCATE query on a graspable object and the first PLACE query, in generation
    order (which follows the scene's seed); EpisodeError when the scene has no such pair."""
    objects = scene.spec.objects
    pick = next(
        (
            q
            for q in queries
            if q.mode is Mode.LOCATE
            and q.target_index is not None
            and graspable(objects[q.target_index])
        ),
        None,
    )
    place = next((q for q in queries if q.mode is Mode.PLACE), None)
    if pick is None or place is None:
        missing = (
            f"LOCATE query on a graspable object (an apple, box or cup at most "
            f"{MAX_GRIP_WIDTH_M * 1e3:.0f} mm wide)"
            if pick is None
            else "PLACE query"
        )
        raise EpisodeError(f"scene {scene.spec.seed} offers no {missing}")
    return EpisodeTask(pick, place)


def resolve_task(queries: list[GeneratedQuery], pick_prompt: str, place_prompt: str) -> EpisodeTask:
    """The generated queries whose prompts equal the given ones (case and spacing ignored)."""
    by_prompt = {normalise_prompt(q.prompt): q for q in queries}
    found = []
    for prompt, mode in ((pick_prompt, Mode.LOCATE), (place_prompt, Mode.PLACE)):
        query = by_prompt.get(normalise_prompt(prompt))
        if query is None or query.mode is not mode:
            offered = sorted(q.prompt for q in queries if q.mode is mode)[:8]
            raise EpisodeError(
                f"{mode.name} prompt {prompt!r} is not one of this scene's generated queries; "
                f"some that are: {offered}"
            )
        found.append(query)
    return EpisodeTask(found[0], found[1])


def top_down_plan(targets: PickPlaceTargets) -> StepPlan:
    """A minimal top-down pick and place from ground truth (the stand-in for grasp_planner).

    The fingers close across the object's narrower side (across a cup's body, the handle along
    the fingers' gap, out of the way), the TCP 1 cm below the centre so the pads cover it but
    never closer than 2 cm to the support; the place mirrors the grasp with the object 1 cm
    above the table, keeping the grasp yaw or turning it a quarter turn, whichever keeps the open
    fingers farther from the obstacles. Raises SimError for an object the gripper cannot take.
    """
    obj = targets.pick_object
    if not graspable(obj):
        raise SimError(
            f"{obj.describe()} ({obj.name}) is not graspable: grip width "
            f"{grip_width_m(obj) * 1e3:.0f} mm, kind {obj.kind.value}"
        )
    cx, cy, cz = targets.pick_pose.translation
    yaw = _yaw_of(targets.pick_pose)
    across_y = obj.kind is not ObjectKind.BOX or obj.dims_m[1] <= obj.dims_m[0]
    tcp_yaw = _half_turn(yaw + math.pi if across_y else yaw + math.pi / 2)
    half = obj.half_height_m
    grasp_z = max(cz - 0.01, cz - half + 0.02)
    offset = grasp_z - cz  # TCP height relative to the object's centre
    px, py, pz = targets.place_point
    place_z = pz + half + offset + 0.01
    place_yaw = max(
        (tcp_yaw, _half_turn(tcp_yaw + math.pi / 2)),
        key=lambda t: _finger_clearance_m(px, py, t, targets.obstacles),
    )

    def at(x: float, y: float, z: float, t: float = tcp_yaw) -> Transform:
        return Transform((x, y, z), (math.cos(t / 2), math.sin(t / 2), 0.0, 0.0))

    steps = (
        Step(StepKind.MOVE, Stage.APPROACH, "pre-grasp", at(cx, cy, grasp_z + 0.10)),
        Step(StepKind.LINEAR, Stage.APPROACH, "approach", at(cx, cy, grasp_z), 0.5),
        Step(StepKind.CLOSE, Stage.GRASP, "close"),
        Step(StepKind.LINEAR, Stage.LIFT, "lift", at(cx, cy, grasp_z + 0.15)),
        Step(StepKind.MOVE, Stage.PLACE, "pre-place", at(px, py, place_z + 0.15, place_yaw)),
        Step(StepKind.LINEAR, Stage.PLACE, "place", at(px, py, place_z, place_yaw), 0.5),
        Step(StepKind.OPEN, Stage.PLACE, "open"),
        Step(StepKind.LINEAR, Stage.RETREAT, "retreat", at(px, py, place_z + 0.10, place_yaw)),
    )
    return StepPlan(frame=targets.frame, steps=steps, object_half_height_m=half)


def run_episode(
    seed: int,
    *,
    robot: str = "ur5e",
    pick_prompt: str | None = None,
    place_prompt: str | None = None,
    plan_builder: PlanBuilder = top_down_plan,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    options: SimUR5eOptions | None = None,
    frame_sink: FrameSink | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> EpisodeResult:
    """Set up, execute and judge one episode (see the module docstring).

    Raises EpisodeError when no task can be set up (unsupported robot, prompts not found, no
    graspable pick); every outcome after that, failures included, is an EpisodeResult.
    """
    if robot != "ur5e":
        raise EpisodeError(f"robot {robot!r} is not supported yet; only 'ur5e'")
    if (pick_prompt is None) != (place_prompt is None):
        raise EpisodeError("give both a pick and a place prompt, or neither")
    if not (math.isfinite(tolerance_m) and tolerance_m > 0):
        raise EpisodeError(f"tolerance_m must be positive, got {tolerance_m!r}")
    clock = _Clock()
    with build_scene(seed, robot, dynamic_objects=True) as scene:
        clock.lap("build")
        frame = scene.render(0.0)
        queries = generate_referring(
            scene.spec, frame, _QUERIES_PER_SCENE, np.random.default_rng(seed), place_share=0.4
        )
        if pick_prompt is not None and place_prompt is not None:
            task = resolve_task(queries, pick_prompt, place_prompt)
        else:
            task = draw_task(scene, queries)
        clock.lap("referring")
        if frame_sink is not None:
            frame_sink("start", frame)
        return _Episode(scene, task, options, frame_sink, clock).run(
            plan_builder, tolerance_m, cancelled
        )


class _Episode:
    """Execution and judgement of one task on a built scene."""

    def __init__(
        self,
        scene: SimScene,
        task: EpisodeTask,
        options: SimUR5eOptions | None,
        frame_sink: FrameSink | None,
        clock: _Clock,
    ) -> None:
        assert task.pick.target_index is not None
        self.scene = scene
        self.task = task
        self.obj = scene.spec.objects[task.pick.target_index]
        self.backend = SimUR5eBackend(scene, options)
        self.frame_sink = frame_sink
        self.clock = clock
        self.grasped: str | None = None

    def run(
        self, plan_builder: PlanBuilder, tolerance_m: float, cancelled: Callable[[], bool] | None
    ) -> EpisodeResult:
        backend = self.backend
        backend.hold(_SETTLE_S)
        targets = PickPlaceTargets(
            BASE_FRAME,
            self.task.pick.point_base,
            self.task.place.point_base,
            self.obj,
            backend.object_pose(self.obj.name),
            tuple(o for o in self.scene.spec.objects if o.index != self.obj.index),
        )
        try:
            plan = plan_builder(targets)
        except SimError as err:
            self.clock.lap("plan")
            return self._result(
                ExecutionStatus.PLANNING_FAILED, FailureClass.NOT_GRASPABLE, str(err), None
            )
        self.clock.lap("plan")
        sim0 = backend.sim_time_s
        outcome = backend.execute(plan, self._on_step, cancelled)
        self.robot_sim_s = backend.sim_time_s - sim0
        self.clock.lap("execute")
        if not outcome.success:
            fault = backend.last_fault or SimFault.REJECTED
            failure = _FAILURE_OF_FAULT[fault]
            if fault is SimFault.SLIP and self.grasped not in (None, self.obj.name):
                failure = FailureClass.WRONG_OBJECT
            return self._result(outcome.status, failure, outcome.message, None)
        return self._judge(tolerance_m)

    def _judge(self, tolerance_m: float) -> EpisodeResult:
        backend = self.backend
        backend.hold(_REST_S)
        self._sink("end")
        pose = backend.object_pose(self.obj.name)
        px, py, pz = self.task.place.point_base
        error = math.hypot(pose.translation[0] - px, pose.translation[1] - py)
        tilt = math.acos(max(-1.0, min(1.0, float(pose.rotation_matrix()[2, 2]))))
        height = pose.translation[2] - (pz + self.obj.half_height_m)
        speed = backend.object_speed_m_s(self.obj.name)
        self.clock.lap("judge")
        status = ExecutionStatus.SUCCEEDED
        if self.grasped != self.obj.name:
            failure: FailureClass | None = FailureClass.WRONG_OBJECT
            message = f"the gripper took {self.grasped}, not {self.obj.name}"
        elif (
            (self.obj.kind is not ObjectKind.APPLE and tilt > _MAX_TILT_RAD)
            or abs(height) > _REST_HEIGHT_TOL_M
            or speed > _REST_SPEED_M_S
        ):
            failure = FailureClass.OBJECT_FELL
            message = (
                f"{self.obj.name} is not resting upright on the table: tilt "
                f"{math.degrees(tilt):.0f} deg, {height * 1e3:+.0f} mm from the rest height, "
                f"{speed:.2f} m/s"
            )
        elif error > tolerance_m:
            failure = FailureClass.PLACED_OFF_TARGET
            message = f"{self.obj.name} rests {error * 1e3:.0f} mm from the place point"
        else:
            failure = None
            message = f"{self.obj.name} rests {error * 1e3:.0f} mm from the place point"
        return self._result(status, failure, message, error)

    def _on_step(self, index: int, step: Step) -> None:
        del index
        if step.stage is Stage.LIFT and self.grasped is None:
            self.grasped = self.backend.held_object
            self._sink("grasp")
        elif step.stage is Stage.PLACE and step.kind is StepKind.MOVE:
            self._sink("lift")
        elif step.kind is StepKind.OPEN:
            self._sink("place")

    def _sink(self, label: str) -> None:
        if self.frame_sink is not None:
            self.frame_sink(label, self.scene.render(0.0))

    def _result(
        self,
        status: ExecutionStatus,
        failure: FailureClass | None,
        message: str,
        error: float | None,
    ) -> EpisodeResult:
        laps = self.clock.laps
        timings = EpisodeTimings(
            build_s=laps.get("build", 0.0),
            referring_s=laps.get("referring", 0.0),
            plan_s=laps.get("plan", 0.0),
            execute_s=laps.get("execute", 0.0),
            judge_s=laps.get("judge", 0.0),
            total_s=self.clock.total(),
            robot_sim_s=getattr(self, "robot_sim_s", 0.0),
        )
        return EpisodeResult(
            seed=self.scene.spec.seed,
            success=failure is None,
            object=self.obj.name,
            object_description=self.obj.describe(),
            pick_prompt=self.task.pick.prompt,
            place_prompt=self.task.place.prompt,
            place_error_m=error,
            status=status,
            failure_class=failure,
            message=message,
            timings=timings,
        )


class _Clock:
    """Wall-clock laps of the phases of an episode."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now

    def total(self) -> float:
        return time.perf_counter() - self._start


def _finger_clearance_m(
    x: float, y: float, tcp_yaw: float, obstacles: tuple[ObjectSpec, ...]
) -> float:
    """Smallest gap between the open fingers (outer ends ~6 cm either side of the TCP along the
    closing axis, which is the TCP's y) and an obstacle's footprint."""
    axis = (math.sin(tcp_yaw), -math.cos(tcp_yaw))
    gaps = [
        math.hypot(
            x + side * _FINGER_REACH_M * axis[0] - o.position_m[0],
            y + side * _FINGER_REACH_M * axis[1] - o.position_m[1],
        )
        - o.footprint_radius_m
        for o in obstacles
        for side in (-1.0, 1.0)
    ]
    return min(gaps, default=math.inf)


def _yaw_of(pose: Transform) -> float:
    R = pose.rotation_matrix()
    return math.atan2(float(R[1, 0]), float(R[0, 0]))


def _half_turn(angle: float) -> float:
    """The angle modulo pi, in (-pi/2, pi/2]: a parallel gripper turned by pi grips the same."""
    return angle - math.pi * math.ceil(angle / math.pi - 0.5)
