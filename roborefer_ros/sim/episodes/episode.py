"""One pick-and-place episode in physics simulation, without a ROS graph.

Build a dynamic scene from a seed (``build_episode_scene``: the seed's scene, redrawn while it
offers the robot no task), draw (or resolve) a pick instruction (a LOCATE query on a
graspable object) and a place instruction (a PLACE query), take their ground-truth answers in
place of a model's, perceive the object's extent and yaw in the first frame as the refer node
does (``core.object_extent``; the simulator's truth only with ``geometry="truth"``, for
comparison runs), turn them into a StepPlan with the real grasp planner
(``grasp_planner.plan_pick_place``: TOP_DOWN in base_link for the UR5e, FRONTAL in torso_link
for the G1), execute it on the simulated robot and judge the outcome by physics alone: did the
named object come to rest upright on the table within the tolerance of the instructed place
point?

The plan builder is injectable (``PlanBuilder``; default ``grasp_plan``). Rendering goes to an
optional ``FrameSink``; this module writes no files.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.object_extent import FramedExtent, estimate_extent
from roborefer_ros.core.referring import normalise_prompt
from roborefer_ros.core.request import Mode
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceError
from roborefer_ros.manipulation.grasp_planner import (
    GraspConfig,
    GraspStyle,
    PlaceSurface,
    PlanRequest,
    plan_pick_place,
)
from roborefer_ros.manipulation.obstacles import DepthView
from roborefer_ros.manipulation.safety import SafetyConfig
from roborefer_ros.manipulation.steps import ExecutionStatus, Stage, Step, StepKind, StepPlan
from roborefer_ros.sim import (
    BASE_FRAME,
    CUP_HANDLE_FRACTION,
    GeneratedQuery,
    ObjectKind,
    ObjectSpec,
    RenderedFrame,
    SimError,
    SimScene,
    build_scene,
    clearance_m,
    generate_referring,
)
from roborefer_ros.sim.arms.executor import SimFault
from roborefer_ros.sim.arms.factory import EpisodeBackend, make_episode_backend
from roborefer_ros.sim.arms.g1_bridge import SimG1BridgeBackend
from roborefer_ros.sim.episodes.strip import KeyFrameWriter, plan_targets
from roborefer_ros.sim.robots import ROBOT_PREFIX
from roborefer_ros.sim.robots.g1 import PLAN_FRAME as G1_PLAN_FRAME

Vec3 = tuple[float, float, float]
JsonDict = dict[str, object]  # (named before EpisodeResult, whose field ``object`` shadows it)

GRASPABLE_KINDS = frozenset({ObjectKind.APPLE, ObjectKind.BOX, ObjectKind.CUP})
G1_GRASPABLE_KINDS = frozenset({ObjectKind.BOX, ObjectKind.CUP})
# Widest grip per robot: the 2F-85 opens 85 mm (5 mm kept for the TCP's placement error); the
# Dex3's thumb-to-fingers cavity takes about 70 mm (5 mm kept).
MAX_GRIP_WIDTH_M: dict[str, float] = {"ur5e": 0.075, "g1": 0.065}
DEFAULT_TOLERANCE_M = 0.05
_QUERIES_PER_SCENE = 40  # generated per scene to choose the task from (and to resolve prompts)
_PLACE_SHARE = 0.4
_SETTLE_S = 0.3  # objects come to rest before the plan starts
_REST_S = 1.0  # after the plan, before judging
_MAX_TILT_RAD = math.radians(25.0)
_REST_SPEED_M_S = 0.02
_REST_HEIGHT_TOL_M = 0.02
# The G1's open Dex3 around its grasp point, for choosing objects it can approach frontally.
_G1_PLACE_X_M = (0.20, 0.40)  # where its level hand reaches down to the table (base_link)
_G1_PLACE_MAX_ABS_Y_M = 0.24
_G1_PLACE_CLEARANCE_M = 0.05  # from the place point to every footprint (the hand beside it)
_HAND_HALF_WIDTH_M = 0.05
_HAND_APPROACH_M = 0.30  # pre-grasp distance plus the hand behind its grasp point
_HAND_BEYOND_M = 0.08  # finger tips past the grasp point


class EpisodeError(SimError):
    """A task that cannot be set up: unknown prompt, nothing graspable, unsupported robot."""


class UncertainExtentError(SimError):
    """The object's perceived extent is below the confidence floor: no blind grasp."""


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
    UNCERTAIN_EXTENT = "uncertain_extent"  # the perceived extent is below the confidence floor
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
    the PLACE answer, a free table point. ``pick_object``, ``pick_pose`` (``T_frame_from_object``
    after settling) and ``obstacles`` (the other objects, ``ObjectSpec`` in base_link) are ground
    truth that a perception-only planner may ignore. Points and pose in ``frame``, the robot's
    plan frame (base_link for the UR5e, torso_link for the G1), metres.
    """

    frame: str
    pick_point: Vec3
    place_point: Vec3
    pick_object: ObjectSpec
    pick_pose: Transform
    obstacles: tuple[ObjectSpec, ...] = ()
    robot: str = "ur5e"
    pick_ray: Vec3 | None = None  # unit viewing ray through the pick point (LOCATE pose +z)
    # the object's extent perceived in the first frame (plan frame); the plan uses it unless
    # ``geometry`` is "truth"
    perceived: FramedExtent | None = None
    geometry: str = "perceived"


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
class GeometryReport:
    """The object geometry an episode planned with (``source``: "perceived" or "truth") and both
    estimates side by side: extents along the object's own axes and the yaw of its x axis in the
    plan frame. ``perceived_*`` are None when the estimate failed (its ``note`` says why)."""

    source: str
    true_size_m: Vec3
    true_yaw_rad: float
    perceived_size_m: Vec3 | None
    perceived_yaw_rad: float | None
    perceived_shape: str
    perceived_confidence: float
    note: str = ""

    def as_dict(self) -> JsonDict:
        return {
            "object_geometry": self.source,
            "object_size_m": {"perceived": self.perceived_size_m, "truth": self.true_size_m},
            "object_yaw_rad": {"perceived": self.perceived_yaw_rad, "truth": self.true_yaw_rad},
            "object_shape_perceived": self.perceived_shape,
            "object_confidence": self.perceived_confidence,
        }


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
    geometry: GeometryReport | None = None

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
            **(self.geometry.as_dict() if self.geometry is not None else {}),
        }


def graspable(obj: ObjectSpec, robot: str = "ur5e") -> bool:
    """Apples, boxes and cups (gripped across the body, away from the handle) that fit the
    robot's hand (the UR5e's 2F-85, the G1's Dex3) with a margin. The G1 grasps frontally at
    table height with its grasp point at least 5 cm up (its palm reaches 4.4 cm below it), so it
    grips small objects above their middle: boxes and cups, no apples (a sphere slides out)."""
    kinds = G1_GRASPABLE_KINDS if robot == "g1" else GRASPABLE_KINDS
    return obj.kind in kinds and grip_width_m(obj) <= MAX_GRIP_WIDTH_M[robot]


def frontal_corridor_clear(obj: ObjectSpec, others: tuple[ObjectSpec, ...]) -> bool:
    """Whether a hand coming straight from the robot (along +x of base_link) at the object's
    height finds room: it stands on the table and no other table object's footprint comes within
    ``_HAND_HALF_WIDTH_M`` of the line the hand sweeps, from ``_HAND_APPROACH_M`` before the
    object to ``_HAND_BEYOND_M`` past its centre (the G1's FRONTAL grasp)."""
    if obj.support is not None:
        return False  # on a plate: the fingers would sweep the plate
    x, y, _ = obj.position_m
    for other in others:
        if other.index == obj.index or other.support is not None:
            continue
        ox, oy, _ = other.position_m
        dx = max(x - _HAND_APPROACH_M - ox, 0.0, ox - (x + _HAND_BEYOND_M))
        if math.hypot(dx, oy - y) < other.footprint_radius_m + _HAND_HALF_WIDTH_M:
            return False
    return True


def grip_width_m(obj: ObjectSpec) -> float:
    """Width between the fingers: a box across its shorter side, else the body's diameter."""
    if obj.kind is ObjectKind.BOX:
        return 2.0 * min(obj.dims_m[0], obj.dims_m[1])
    return 2.0 * obj.dims_m[0]


def pickable(scene: SimScene, obj: ObjectSpec) -> bool:
    """What ``draw_task`` may ask the scene's robot to pick: a graspable object, and for the G1
    (frontal grasps at table height) one whose approach corridor is clear."""
    if not graspable(obj, scene.robot_name):
        return False
    return scene.robot_name != "g1" or frontal_corridor_clear(obj, scene.spec.objects)


def _kinds_text(robot: str) -> str:
    return "a box or cup" if robot == "g1" else "an apple, box or cup"


def reachable_place(scene: SimScene, query: GeneratedQuery) -> bool:
    """Whether a PLACE answer lies where the scene's robot can put things: anywhere for the
    UR5e; for the G1 where its level hand reaches the table (near, not far out to the side) with
    room for the hand around the object."""
    if scene.robot_name != "g1":
        return True
    x, y, _ = query.point_base
    return (
        _G1_PLACE_X_M[0] <= x <= _G1_PLACE_X_M[1]
        and abs(y) <= _G1_PLACE_MAX_ABS_Y_M
        and clearance_m(scene.spec, x, y) >= _G1_PLACE_CLEARANCE_M
    )


def episode_queries(scene: SimScene, frame: RenderedFrame, seed: int) -> list[GeneratedQuery]:
    """The queries an episode of ``seed`` draws its task from, on the scene's first ``frame``
    (the live graph asks the refer node the same ones: same seed, same task)."""
    return generate_referring(
        scene.spec,
        frame,
        _QUERIES_PER_SCENE,
        np.random.default_rng(seed),
        place_share=_PLACE_SHARE,
    )


def strip_label(step: Step, grasped: bool) -> str | None:
    """The strip frame taken as ``step`` starts: "grasp" at the first LIFT (``grasped`` False),
    "lift" at the move to the place, "place" at the OPEN; None for the other steps."""
    if step.stage is Stage.LIFT and not grasped:
        return "grasp"
    if step.stage is Stage.PLACE and step.kind is StepKind.MOVE:
        return "lift"
    if step.kind is StepKind.OPEN:
        return "place"
    return None


def draw_task(scene: SimScene, queries: list[GeneratedQuery]) -> EpisodeTask:
    """The first LOCATE query on a pickable object and the first PLACE query, in generation
    order (which follows the scene's seed); EpisodeError when the scene has no such pair."""
    objects = scene.spec.objects
    pick = next(
        (
            q
            for q in queries
            if q.mode is Mode.LOCATE
            and q.target_index is not None
            and pickable(scene, objects[q.target_index])
        ),
        None,
    )
    place = next((q for q in queries if q.mode is Mode.PLACE and reachable_place(scene, q)), None)
    if pick is None or place is None:
        missing = (
            f"LOCATE query on a graspable object ({_kinds_text(scene.robot_name)} at most "
            f"{MAX_GRIP_WIDTH_M[scene.robot_name] * 1e3:.0f} mm wide)"
            if pick is None
            else "reachable PLACE query"
        )
        raise EpisodeError(f"scene {scene.spec.seed} offers no {missing}")
    return EpisodeTask(pick, place)


MAX_SCENE_DRAWS = 25


@dataclass
class EpisodeScene:
    """An episode's built scene with its first frame and the queries generated on it (what the
    task is drawn or resolved from); closes the scene as a context manager."""

    scene: SimScene
    first_frame: RenderedFrame
    queries: list[GeneratedQuery]

    def __enter__(self) -> EpisodeScene:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.scene.close()


def build_episode_scene(
    seed: int, robot: str = "ur5e", *, width: int = 640, height: int = 480
) -> EpisodeScene:
    """The dynamic scene of episode ``seed``: the seed's scene (draw 0) when it offers the robot
    a task (``draw_task``), else the first further draw of the same seed that does. Scenes with
    nothing the robot's hand can take (only plates, cakes, wide apples; for the G1 also no clear
    frontal corridor) are not pick-and-place tasks. Deterministic, so the CLI, the sim node and
    the in-process episode build the same scene for a seed. EpisodeError after
    ``MAX_SCENE_DRAWS`` draws without a task."""
    why = ""
    for draw in range(MAX_SCENE_DRAWS):
        scene = build_scene(
            seed, robot, width=width, height=height, dynamic_objects=True, draw=draw
        )
        frame = scene.render(0.0)
        queries = episode_queries(scene, frame, seed)
        try:
            draw_task(scene, queries)
        except EpisodeError as err:
            scene.close()
            why = str(err)
            continue
        return EpisodeScene(scene, frame, queries)
    raise EpisodeError(f"{MAX_SCENE_DRAWS} draws of seed {seed} offer no task; the last: {why}")


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


GRASP_CONFIGS: dict[str, GraspConfig] = {
    "ur5e": GraspConfig(style=GraspStyle.TOP_DOWN),
    # The Dex3's finger tips reach 11 cm past its grasp point: approach from 18 cm. Near the
    # chest the level hand cannot rise far: lift 6 cm, come down 5 cm onto the place, rise 8 cm.
    "g1": GraspConfig(
        style=GraspStyle.FRONTAL,
        approach_distance_m=0.18,
        retreat_distance_m=0.08,
        lift_distance_m=0.06,
        place_approach_distance_m=0.05,
        frontal_min_height_m=0.05,  # the Dex3's palm reaches 4.4 cm below its TCP
        frontal_descent_m=0.08,  # onto the pre-grasp from above: no sweep through neighbours
        max_finger_depth_m=0.045,  # its fingers reach 11 cm past the TCP: grip deep boxes mid-body
    ),
}
PLAN_FRAMES = {"ur5e": BASE_FRAME, "g1": G1_PLAN_FRAME}


def object_extents_m(obj: ObjectSpec, yaw_rad: float) -> Vec3:
    """Ground-truth extents (x, y, z) of the object's axis-aligned box in a frame whose z is
    vertical, the object turned by ``yaw_rad`` about it; a cup's handle included."""
    r, hy, hz = obj.dims_m
    if obj.kind is ObjectKind.BOX:
        lx, ly = 2.0 * r, 2.0 * hy
    elif obj.kind is ObjectKind.CUP:
        lx, ly = 2.0 * r * (1.0 + CUP_HANDLE_FRACTION[0]), 2.0 * r
    else:
        lx, ly = 2.0 * r, 2.0 * r
    c, s = abs(math.cos(yaw_rad)), abs(math.sin(yaw_rad))
    return (c * lx + s * ly, s * lx + c * ly, 2.0 * hz)


def grasp_plan(targets: PickPlaceTargets) -> StepPlan:
    """The StepPlan of the real grasp planner (``grasp_planner.plan_pick_place``) for the
    episode's targets: the LOCATE point and its viewing ray as the pick, the PLACE point with the
    table's normal as the place surface, the object's perceived extents, yaw and centre (its
    ground truth with ``geometry="truth"``), and the robot's grasp style (TOP_DOWN for the UR5e,
    FRONTAL for the G1; ``GRASP_CONFIGS``). Raises UncertainExtentError for a perceived extent
    below the confidence floor (as pick_place_node REJECTs it), SimError for an object the robot's
    hand cannot take or a request the planner refuses."""
    obj = targets.pick_object
    if not graspable(obj, targets.robot):
        raise SimError(
            f"{obj.describe()} ({obj.name}) is not graspable by the {targets.robot}: grip width "
            f"{grip_width_m(obj) * 1e3:.0f} mm (at most {MAX_GRIP_WIDTH_M[targets.robot] * 1e3:.0f}"
            f" mm), kind {obj.kind.value}"
        )
    size, yaw, centre = object_extents_m(obj, 0.0), yaw_of(targets.pick_pose), None
    if targets.geometry != "truth":
        perceived = targets.perceived
        floor = SafetyConfig().min_object_confidence
        if perceived is None or perceived.confidence < floor:
            why = "no estimate" if perceived is None else f"confidence {perceived.confidence:.2f}"
            note = f": {perceived.note}" if perceived is not None and perceived.note else ""
            raise UncertainExtentError(
                f"{obj.name}: the perceived extent is uncertain ({why} < {floor:g}){note}"
            )
        size, yaw, centre = perceived.size_m, perceived.yaw_rad, perceived.body_centre
    request = PlanRequest(
        frame=targets.frame,
        pick_point=targets.pick_point,
        pick_ray=targets.pick_ray,
        # the table's normal: both plan frames (base_link, torso_link at zero waist) are z-up
        place=PlaceSurface(targets.place_point, (0.0, 0.0, 1.0)),
        object_size_m=size,  # along the object's own axes
        object_yaw_rad=yaw,
        object_centre=centre,
    )
    try:
        return plan_pick_place(request, GRASP_CONFIGS[targets.robot])
    except PickPlaceError as err:
        raise SimError(f"the grasp planner refused {obj.name}: {err.message}") from None


def run_episode(
    seed: int,
    *,
    robot: str = "ur5e",
    pick_prompt: str | None = None,
    place_prompt: str | None = None,
    plan_builder: PlanBuilder = grasp_plan,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
    realtime: bool = False,
    frame_sink: FrameSink | None = None,
    cancelled: Callable[[], bool] | None = None,
    geometry: str = "perceived",
) -> EpisodeResult:
    """Set up, execute and judge one episode (see the module docstring). ``geometry``: plan with
    the object's extent perceived in the first frame ("perceived", what a robot has) or with the
    simulator's truth ("truth", for comparison runs).

    Raises EpisodeError when no task can be set up (unsupported robot, prompts not found, no
    graspable pick); every outcome after that, failures included, is an EpisodeResult.
    """
    if robot not in GRASP_CONFIGS:
        raise EpisodeError(f"robot {robot!r} is not supported; known: {sorted(GRASP_CONFIGS)}")
    if (pick_prompt is None) != (place_prompt is None):
        raise EpisodeError("give both a pick and a place prompt, or neither")
    if not (math.isfinite(tolerance_m) and tolerance_m > 0):
        raise EpisodeError(f"tolerance_m must be positive, got {tolerance_m!r}")
    if geometry not in GEOMETRIES:
        raise EpisodeError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")
    clock = _Clock()
    with build_episode_scene(seed, robot) as built:
        scene, frame, queries = built.scene, built.first_frame, built.queries
        clock.lap("build")
        if pick_prompt is not None and place_prompt is not None:
            task = resolve_task(queries, pick_prompt, place_prompt)
        else:
            task = draw_task(scene, queries)
        clock.lap("referring")
        if frame_sink is not None:
            frame_sink("start", frame)
        return _Episode(scene, task, realtime, frame_sink, clock).run(
            plan_builder, tolerance_m, cancelled, frame, geometry
        )


class _Episode:
    """Execution and judgement of one task on a built scene."""

    def __init__(
        self,
        scene: SimScene,
        task: EpisodeTask,
        realtime: bool,
        frame_sink: FrameSink | None,
        clock: _Clock,
    ) -> None:
        assert task.pick.target_index is not None
        self.scene = scene
        self.task = task
        self.obj = scene.spec.objects[task.pick.target_index]
        # the robot's own option defaults (the G1's differ), as the sim node gets them
        self.backend: EpisodeBackend = make_episode_backend(scene, realtime)
        self.frame_sink = frame_sink
        self.clock = clock
        self.grasped: str | None = None

    def run(
        self,
        plan_builder: PlanBuilder,
        tolerance_m: float,
        cancelled: Callable[[], bool] | None,
        first_frame: RenderedFrame,
        geometry: str = "perceived",
    ) -> EpisodeResult:
        backend = self.backend
        backend.hold(_SETTLE_S)
        robot = self.scene.robot_name
        frame, T_plan_from_base = plan_frame_of(self.scene)
        perceived = perceive_object(first_frame, self.task.pick, T_plan_from_base)
        if isinstance(backend, SimG1BridgeBackend):
            backend.depth_view = DepthView(
                first_frame.depth_m,
                first_frame.camera,
                T_plan_from_base @ first_frame.T_base_from_optical,
                frame=frame,
            )
        pick_pose = T_plan_from_base @ backend.object_pose(self.obj.name)
        self.geometry = geometry_report(geometry, self.obj, pick_pose, perceived)
        targets = PickPlaceTargets(
            frame,
            _vec3(T_plan_from_base.apply(self.task.pick.point_base)),
            _vec3(T_plan_from_base.apply(self.task.place.point_base)),
            self.obj,
            pick_pose,
            tuple(o for o in self.scene.spec.objects if o.index != self.obj.index),
            robot,
            _vec3(T_plan_from_base.rotate(self._viewing_ray())),
            perceived,
            geometry,
        )
        try:
            plan = plan_builder(targets)
        except UncertainExtentError as err:
            self.clock.lap("plan")
            return self._result(
                ExecutionStatus.REJECTED, FailureClass.UNCERTAIN_EXTENT, str(err), None
            )
        except SimError as err:
            self.clock.lap("plan")
            return self._result(
                ExecutionStatus.PLANNING_FAILED, FailureClass.NOT_GRASPABLE, str(err), None
            )
        self.clock.lap("plan")
        if isinstance(self.frame_sink, KeyFrameWriter):  # mark where it grasps and releases
            self.frame_sink.set_targets(plan_targets(plan, T_plan_from_base.inverse()))
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

    def _viewing_ray(self) -> npt.NDArray[np.float64]:
        """Unit ray (base_link) from the camera through the pick point: the LOCATE pose's +z."""
        eye = np.asarray(self.scene.camera_pose_at(0.0).translation, dtype=np.float64)
        ray: npt.NDArray[np.float64] = np.asarray(self.task.pick.point_base) - eye
        return ray / float(np.linalg.norm(ray))

    def _judge(self, tolerance_m: float) -> EpisodeResult:
        backend = self.backend
        backend.hold(_REST_S)
        self._sink("end")
        pose = backend.object_pose(self.obj.name)
        speed = backend.object_speed_m_s(self.obj.name)
        self.clock.lap("judge")
        status = ExecutionStatus.SUCCEEDED
        verdict = judge_rest(self.obj, pose, self.task.place.point_base, tolerance_m, speed)
        failure, message, error = verdict.failure, verdict.message, verdict.error_m
        if self.grasped != self.obj.name:
            failure = FailureClass.WRONG_OBJECT
            message = f"the gripper took {self.grasped}, not {self.obj.name}"
        return self._result(status, failure, message, error)

    def _on_step(self, index: int, step: Step) -> None:
        del index
        label = strip_label(step, grasped=self.grasped is not None)
        if label == "grasp" or (label == "lift" and self.grasped is None):
            # after the lift too: a backend may only tell what rose with the hand
            self.grasped = self.backend.held_object
        if label is not None:
            self._sink(label)

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
            geometry=getattr(self, "geometry", None),
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


def _vec3(values: object) -> Vec3:
    x, y, z = (float(v) for v in np.asarray(values, dtype=np.float64).reshape(3))
    return (x, y, z)


@dataclass(frozen=True)
class RestVerdict:
    """Where the named object came to rest: ``failure`` None (placed), OBJECT_FELL or
    PLACED_OFF_TARGET; ``error_m`` its centre's xy distance from the place point."""

    failure: FailureClass | None
    error_m: float
    message: str


def judge_rest(
    obj: ObjectSpec,
    pose: Transform,
    place_point: Vec3,
    tolerance_m: float,
    speed_m_s: float | None = None,
) -> RestVerdict:
    """The episode's success rule (in-process and on the live graph): upright (apples may lie
    any way round), at its resting height on the table, still (when the speed is known), and
    its centre within ``tolerance_m`` (xy) of the place point. ``pose``: T_base_from_object."""
    px, py, pz = place_point
    error = math.hypot(pose.translation[0] - px, pose.translation[1] - py)
    tilt = math.acos(max(-1.0, min(1.0, float(pose.rotation_matrix()[2, 2]))))
    height = pose.translation[2] - (pz + obj.half_height_m)
    moving = speed_m_s is not None and speed_m_s > _REST_SPEED_M_S
    if (
        (obj.kind is not ObjectKind.APPLE and tilt > _MAX_TILT_RAD)
        or abs(height) > _REST_HEIGHT_TOL_M
        or moving
    ):
        speed = "" if speed_m_s is None else f", {speed_m_s:.2f} m/s"
        return RestVerdict(
            FailureClass.OBJECT_FELL,
            error,
            f"{obj.name} is not resting upright on the table: tilt {math.degrees(tilt):.0f} deg, "
            f"{height * 1e3:+.0f} mm from the rest height{speed}",
        )
    message = f"{obj.name} rests {error * 1e3:.0f} mm from the place point"
    if error > tolerance_m:
        return RestVerdict(FailureClass.PLACED_OFF_TARGET, error, message)
    return RestVerdict(None, error, message)


GEOMETRIES = ("perceived", "truth")


def perceive_object(
    frame: RenderedFrame, pick: GeneratedQuery, T_plan_from_base: Transform
) -> FramedExtent | None:
    """The pick object's extent as the refer node perceives it: the frame's depth as the sim
    camera publishes it (16UC1), the LOCATE point, ``estimate_extent``, in the plan frame. None
    when it could not be estimated at all (confidence 0)."""
    T_optical_from_base = frame.T_base_from_optical.inverse()
    point = np.asarray(T_optical_from_base.apply(np.asarray(pick.point_base)), dtype=np.float64)
    extent = estimate_extent(
        frame.camera, encode_depth(frame.depth_m, "16UC1"), "16UC1", pick.pixel, point
    )
    framed = extent.in_frame(T_plan_from_base @ frame.T_base_from_optical)
    return framed if extent.confidence > 0 else None


def geometry_report(
    source: str, obj: ObjectSpec, pick_pose: Transform, perceived: FramedExtent | None
) -> GeometryReport:
    """Both geometries of the pick object side by side (``pick_pose`` in the plan frame)."""
    return GeometryReport(
        source=source,
        true_size_m=object_extents_m(obj, 0.0),
        true_yaw_rad=yaw_of(pick_pose),
        perceived_size_m=None if perceived is None else perceived.size_m,
        perceived_yaw_rad=None if perceived is None else perceived.yaw_rad,
        perceived_shape="" if perceived is None else perceived.shape.name.lower(),
        perceived_confidence=0.0 if perceived is None else perceived.confidence,
        note="" if perceived is None else perceived.note,
    )


def plan_frame_of(scene: SimScene) -> tuple[str, Transform]:
    """The robot's plan frame and ``T_plan_from_base`` at the scene's current physics state."""
    frame = PLAN_FRAMES[scene.robot_name]
    if frame == BASE_FRAME:
        return frame, Transform()
    return frame, scene.body_pose(ROBOT_PREFIX + frame).inverse()


def yaw_of(pose: Transform) -> float:
    """Yaw (rad) of the pose's x axis about its parent's z."""
    R = pose.rotation_matrix()
    return math.atan2(float(R[1, 0]), float(R[0, 0]))
