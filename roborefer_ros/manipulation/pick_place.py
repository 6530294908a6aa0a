"""The path of one PickPlace goal, ROS-free: resolve targets, check them, plan, execute.

The node supplies a ``Resolver`` (its RefPoint client) and a ``ManipulationBackend``; this module
decides the order and turns every failure into a ``PickPlaceOutcome`` with a status and a message
that names the bad value. Order: both targets are resolved and checked before anything moves, so a
place that cannot be resolved (or is unsafe) never leaves the robot holding the object; the
backend's availability is checked first of all, so a goal that cannot move fails before the model
is asked. ``dry_run`` stops after planning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from roborefer_ros.core.object_extent import FramedExtent
from roborefer_ros.core.request import Mode
from roborefer_ros.core.transforms import Transform, Vec3
from roborefer_ros.manipulation.errors import PickPlaceError, PickPlaceStatus
from roborefer_ros.manipulation.grasp_planner import (
    GraspConfig,
    PlaceSurface,
    PlanRequest,
    plan_pick_place,
)
from roborefer_ros.manipulation.safety import SafetyConfig, check_plan, check_surface, check_target
from roborefer_ros.manipulation.steps import ManipulationBackend, Stage, Step, StepPlan

NUM_STAGES = len(Stage)
# Refer failures that can pass on their own: a camera briefly slower than max_frame_age_s, a
# frame not there yet, /tf arriving late (a lost sample waits for the transport's repair).
TRANSIENT_REFER_STATUSES = frozenset(
    {PickPlaceStatus.NO_FRAME, PickPlaceStatus.STALE_FRAME, PickPlaceStatus.TF_ERROR}
)


@dataclass(frozen=True)
class ReferRetry:
    """How a target whose refer call failed transiently is asked again: ``retries`` more times,
    ``delay_s`` apart (the wait ends early on a cancel). 0 retries: the first answer stands."""

    retries: int = 1
    delay_s: float = 0.5

    def __post_init__(self) -> None:
        if self.retries < 0 or not 0.0 <= self.delay_s <= 60.0:
            raise ValueError(f"refer retry must be >= 0 times, 0-60 s apart, got {self}")


@dataclass(frozen=True)
class Target:
    """A resolved pick or place target.

    ``pose``: position = the point; orientation +z = the approach axis (LOCATE: the viewing ray) or
    the surface normal (PLACE), as RefPoint returns it.
    """

    frame: str
    pose: Transform
    stamp_ns: int  # 0 = no time (a ready pose without a stamp)
    depth_valid_ratio: float | None = None  # None: no depth evidence (a ready pose)
    source: str = "model"  # "model" or "given"
    # LOCATE: the object's extent the refer node perceived in the same frame (plan frame)
    extent: FramedExtent | None = None

    @property
    def z_axis(self) -> Vec3:
        x, y, z = self.pose.rotate([0.0, 0.0, 1.0]).tolist()
        return (x, y, z)


@dataclass(frozen=True)
class PickPlaceRequest:
    frame: str  # plan frame (already defaulted)
    pick_prompt: str = ""
    place_prompt: str = ""
    pick_pose: Target | None = None  # used instead of the model when set
    place_pose: Target | None = None
    approach_distance_m: float = 0.0  # <= 0: config default
    lift_distance_m: float = 0.0
    object_size_m: Vec3 = (0.0, 0.0, 0.0)  # <= 0: unknown
    # yaw of the object's x axis in the plan frame; when given, object_size_m is along its own axes
    object_yaw_rad: float | None = None
    dry_run: bool = False

    @property
    def gives_geometry(self) -> bool:
        """Whether the goal itself says how big the object is or how it is turned."""
        return self.object_yaw_rad is not None or any(s > 0 for s in self.object_size_m)

    @property
    def wants_pick(self) -> bool:
        return self.pick_pose is not None or bool(self.pick_prompt.strip())

    @property
    def wants_place(self) -> bool:
        return self.place_pose is not None or bool(self.place_prompt.strip())


@dataclass(frozen=True)
class ObjectGeometry:
    """The object geometry a plan used. ``source``: "goal" (the goal's size/yaw), "perceived"
    (the refer node's estimate from the pick's frame), "default" (nothing was known: the
    planner's default extents, yaw 0). ``size_m`` along the object's own axes when ``yaw_rad`` is
    set, else along the plan frame's (unknown extents 0); ``centre_m``: the perceived centre of
    the object's body (where the grasp closes)."""

    source: str
    size_m: Vec3 = (0.0, 0.0, 0.0)
    yaw_rad: float | None = None
    centre_m: Vec3 | None = None


class Resolver(Protocol):
    def __call__(self, prompt: str, mode: Mode, frame: str) -> Target:
        """The first RefPoint point for the prompt; raises PickPlaceError on any failure."""
        ...


@dataclass(frozen=True)
class PickPlaceOutcome:
    status: PickPlaceStatus
    message: str
    pick: Target | None = None
    place: Target | None = None
    plan: StepPlan | None = None
    geometry: ObjectGeometry | None = None
    failed_step: int | None = None
    stage_durations_s: tuple[float, ...] = field(default=(0.0,) * NUM_STAGES)
    total_s: float = 0.0
    # per step the backend ran (in plan order, up to the failed one): wall time and its
    # planning share (empty where the backend does not tell)
    step_durations_s: tuple[float, ...] = ()
    step_planning_s: tuple[float, ...] = ()

    @property
    def success(self) -> bool:
        return self.status is PickPlaceStatus.OK


StageCallback = Callable[[Stage, str], None]  # (stage, step label or "")


@dataclass
class _Run:
    request: PickPlaceRequest
    resolve: Resolver
    backend: ManipulationBackend | None
    grasp: GraspConfig
    safety: SafetyConfig
    now_ns: Callable[[], int]
    on_stage: StageCallback
    cancelled: Callable[[], bool]
    retry: ReferRetry = ReferRetry()
    durations: list[float] = field(default_factory=lambda: [0.0] * NUM_STAGES)
    step_times: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())  # durations, planning
    pick: Target | None = None
    place: Target | None = None
    plan: StepPlan | None = None
    geometry: ObjectGeometry | None = None

    def stage(self, stage: Stage) -> None:
        if self.cancelled():
            raise PickPlaceError(PickPlaceStatus.CANCELED, f"cancelled before stage {stage.name}")
        self.on_stage(stage, "")

    def target(self, label: str, given: Target | None, prompt: str, mode: Mode) -> Target:
        target = given if given is not None else self.resolved(label, prompt, mode)
        if target.frame != self.request.frame:
            raise PickPlaceError(
                PickPlaceStatus.BAD_REQUEST,
                f"{label} target is in frame '{target.frame}', the plan frame is "
                f"'{self.request.frame}' (send poses in the plan frame)",
            )
        check_target(
            label,
            target.pose.translation,
            target.stamp_ns,
            self.now_ns(),
            target.depth_valid_ratio,
            self.safety,
        )
        return target

    def resolved(self, label: str, prompt: str, mode: Mode) -> Target:
        """The refer answer for the prompt, asked again after a transient failure."""
        attempts = 1 + self.retry.retries
        for attempt in range(1, attempts + 1):
            try:
                return self.resolve(prompt.strip(), mode, self.request.frame)
            except PickPlaceError as err:
                transient = err.status in TRANSIENT_REFER_STATUSES
                if (
                    not transient
                    or attempt == attempts
                    or self._cancelled_within(self.retry.delay_s)
                ):
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    raise PickPlaceError(
                        err.status, f"{label} '{prompt[:80]}': {err.message}{tries}"
                    ) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _cancelled_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.cancelled():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(0.02, remaining))
        return True

    def timed(self, stage: Stage, started: float) -> None:
        self.durations[int(stage.value)] += time.monotonic() - started

    def run(self) -> PickPlaceOutcome:
        req = self.request
        if not (req.wants_pick or req.wants_place):
            raise PickPlaceError(
                PickPlaceStatus.BAD_REQUEST,
                "nothing to do: give a pick (prompt or pose) and/or a place (prompt or pose)",
            )
        if not req.dry_run:
            if self.backend is None:
                raise PickPlaceError(PickPlaceStatus.UNAVAILABLE, "no manipulation backend")
            ok, why = self.backend.available()
            if not ok:
                name = getattr(self.backend, "name", "?")
                raise PickPlaceError(
                    PickPlaceStatus.UNAVAILABLE, f"manipulation backend '{name}': {why}"
                )
        if req.wants_pick:
            self.stage(Stage.REFER_PICK)
            t0 = time.monotonic()
            self.pick = self.target("pick", req.pick_pose, req.pick_prompt, Mode.LOCATE)
            self.timed(Stage.REFER_PICK, t0)
        if req.wants_place:
            self.stage(Stage.REFER_PLACE)
            t0 = time.monotonic()
            self.place = self.target("place", req.place_pose, req.place_prompt, Mode.PLACE)
            check_surface(self.place.z_axis, self.safety)
            self.timed(Stage.REFER_PLACE, t0)
        self.stage(Stage.PLAN)
        t0 = time.monotonic()
        self.geometry = self.object_geometry()
        self.plan = plan_pick_place(
            PlanRequest(
                frame=req.frame,
                pick_point=self.pick.pose.translation if self.pick else None,
                # a LOCATE answer's +z is the viewing ray; a given pose's +z means nothing here
                pick_ray=self.pick.z_axis if self.pick and self.pick.source == "model" else None,
                place=PlaceSurface(self.place.pose.translation, self.place.z_axis)
                if self.place
                else None,
                object_size_m=self.geometry.size_m,
                object_yaw_rad=self.geometry.yaw_rad,
                object_centre=self.geometry.centre_m,
                approach_distance_m=req.approach_distance_m,
                lift_distance_m=req.lift_distance_m,
            ),
            self.grasp,
        )
        check_plan(self.plan, self.safety)
        self.timed(Stage.PLAN, t0)
        if req.dry_run:
            return self.outcome(
                PickPlaceStatus.OK, f"dry run: {len(self.plan.steps)} steps planned, nothing moved"
            )
        return self.execute(self.plan)

    def object_geometry(self) -> ObjectGeometry:
        """What the goal says of the object's size and yaw; else what the refer node perceived
        in the pick's frame (REJECTED below ``min_object_confidence``: no blind grasp on a bad
        estimate); else nothing (the planner's defaults)."""
        req = self.request
        if req.gives_geometry:
            return ObjectGeometry("goal", req.object_size_m, req.object_yaw_rad)
        extent = self.pick.extent if self.pick is not None else None
        if extent is None:
            return ObjectGeometry("default")
        floor = self.safety.min_object_confidence
        if extent.confidence < floor:
            why = f": {extent.note}" if extent.note else ""
            raise PickPlaceError(
                PickPlaceStatus.REJECTED,
                f"pick: the object's extent is uncertain (confidence {extent.confidence:.2f} < "
                f"min_object_confidence {floor:g}){why}",
            )
        return ObjectGeometry("perceived", extent.size_m, extent.yaw_rad, extent.body_centre)

    def execute(self, plan: StepPlan) -> PickPlaceOutcome:
        assert self.backend is not None

        def on_step(_index: int, step: Step) -> None:
            self.on_stage(step.stage, step.label)  # one feedback per step: stage + label

        result = self.backend.execute(plan, on_step=on_step, cancelled=self.cancelled)
        for index, seconds in enumerate(result.step_durations_s[: len(plan.steps)]):
            self.durations[int(plan.steps[index].stage.value)] += seconds
        self.step_times = (
            tuple(result.step_durations_s[: len(plan.steps)]),
            tuple(result.step_planning_s[: len(plan.steps)]),
        )
        status = PickPlaceStatus.from_execution(result.status)
        if result.success:
            return self.outcome(status, f"done: {len(plan.steps)} steps")
        where = ""
        if result.failed_step is not None and 0 <= result.failed_step < len(plan.steps):
            where = f"step {result.failed_step} ({plan.steps[result.failed_step].label}): "
        return self.outcome(status, where + result.message, failed_step=result.failed_step)

    def outcome(
        self, status: PickPlaceStatus, message: str, failed_step: int | None = None
    ) -> PickPlaceOutcome:
        return PickPlaceOutcome(
            status=status,
            message=message,
            pick=self.pick,
            place=self.place,
            plan=self.plan,
            geometry=self.geometry,
            failed_step=failed_step,
            stage_durations_s=tuple(self.durations),
            step_durations_s=self.step_times[0],
            step_planning_s=self.step_times[1],
        )


def run_pick_place(
    request: PickPlaceRequest,
    *,
    resolve: Resolver,
    backend: ManipulationBackend | None,
    grasp: GraspConfig,
    safety: SafetyConfig,
    now_ns: Callable[[], int] = time.time_ns,
    on_stage: StageCallback | None = None,
    cancelled: Callable[[], bool] | None = None,
    retry: ReferRetry | None = None,
) -> PickPlaceOutcome:
    """Run one goal; never raises PickPlaceError (it becomes the outcome's status and message).

    Anything else (a bug) propagates: the ROS adapter reports it as INTERNAL_ERROR.
    """
    started = time.monotonic()
    run = _Run(
        request,
        resolve,
        backend,
        grasp,
        safety,
        now_ns,
        on_stage or (lambda _stage, _label: None),
        cancelled or (lambda: False),
        retry or ReferRetry(),
    )
    try:
        outcome = run.run()
    except PickPlaceError as err:
        outcome = run.outcome(err.status, err.message)
    return replace(outcome, total_s=time.monotonic() - started)
