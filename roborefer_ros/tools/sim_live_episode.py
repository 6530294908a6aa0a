"""One pick-and-place episode on a live graph: sim_node + refer_node + pick_place_node, and for
the UR5e the simulated move_group (sim_move_group). pick_place_node runs the real robot's file
with the simulation's overlay: the UR5e through MoveIt (``moveit``), the G1 through its arm
bridge (``g1``: /arm_sdk and the Dex3 commands to sim_node's motors, /lowstate back).

The task (pick and place instructions) comes from the scene's generated queries, as in the
in-process episode (``sim.episodes.episode.draw_task`` / ``resolve_task``); for the ground_truth
backend their answers are written to a referring file (stamp 0: any frame of the static camera). The
three nodes run as processes (the launcher's machinery, output to a log file); this process sends
the PickPlace goal, watches the camera (camera_info, one per frame) and reads where the object came
to rest from TF (``object/<name>``, published by sim_node). Judged like the in-process episode:
upright (apples may roll), on the table, within the tolerance of the place point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from roborefer_ros.backends.registry import BackendOptions
from roborefer_ros.core.referring import dump_referring
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.sim import ObjectSpec
from roborefer_ros.sim.episodes.episode import (
    PLAN_FRAMES,
    EpisodeTask,
    GeometryReport,
    build_episode_scene,
    draw_task,
    judge_rest,
    object_extents_m,
    plan_frame_of,
    resolve_task,
    yaw_of,
)
from roborefer_ros.sim.episodes.live import referring_of
from roborefer_ros.tools.launcher import Launcher, ProcessSpec, ros_arguments

JsonDict = dict[str, object]  # (named before LiveResult, whose field ``object`` shadows it)
CAMERA_NS = "/camera/camera"
CONFIG = Path(__file__).resolve().parents[2] / "config"
ACTION = "/pick_place_node/pick_place"
MOVE_ACTION = "/move_action"  # move_group's MoveGroup action (the UR5e's planner)
LOWSTATE_TOPIC = "/lowstate"  # the G1's state stream (its arm bridge needs it)
# What pick_place_node drives each simulated robot through, as on the real robot: the UR5e
# through MoveIt's interfaces (sim_move_group over sim_node's UR driver), the G1 through its
# arm_sdk bridge (sim_node's unitree_ros2 topics).
MANIPULATION_BACKENDS = {"ur5e": "moveit", "g1": "g1"}
# The real robot's parameter file and the simulation's overlay on it (the only differences).
ROBOT_CONFIGS = {"ur5e": ("ur5.yaml", "sim_ur5e.yaml"), "g1": ("g1.yaml", "sim_g1.yaml")}
REFER_SERVICE = "/refer_node/refer"
POSE_WAIT_S = 15.0  # beyond rest_s, for a TF stamped after the rest to arrive
MODEL_NOT_LOADED = "model not loaded:"  # how the refer node's answers start while it cannot load
PROBE_TIMEOUT_S = 8.0  # one refer probe; it is asked again after that (requests can be lost)
GOAL_SENDS = 3  # PickPlace goal sends under one goal id
GOAL_ANSWER_S = 5.0  # wait for the server's accept/reject per send
SETUP_FAILED_GRACE_S = 1.0  # SIGINT-to-SIGKILL when the episode could not even start


@dataclass(frozen=True)
class LiveOptions:
    seed: int
    robot: str = "ur5e"
    pick_prompt: str | None = None
    place_prompt: str | None = None
    backend: str = "ground_truth"
    backend_options: BackendOptions = field(default_factory=BackendOptions)
    model_timeout_s: float = 60.0
    tolerance_m: float = 0.05
    realtime: bool = False
    rate_hz: float = 10.0
    frames_dir: Path | None = None
    work_dir: Path | None = None  # referring file and node logs; default: a temporary folder
    startup_timeout_s: float = 30.0
    goal_timeout_s: float = 300.0
    rest_s: float = 1.0
    geometry: str = "perceived"  # the goal carries the object's true size/yaw only with "truth"


@dataclass(frozen=True)
class LiveResult:
    success: bool
    object: str
    place_error_m: float | None
    status: str  # "succeeded", or the PickPlace status name in lower case
    message: str
    seed: int
    robot: str
    pick_prompt: str
    place_prompt: str
    backend: str
    timings: dict[str, float]
    camera_rate_hz_moving: float | None  # colour frames per second while the arm moved
    log: str
    geometry: GeometryReport | None = None
    manipulation_backend: str = ""
    # per step pick_place_node ran: {"label", "total_s", "planning_s", "execution_s"} (wall time)
    steps: tuple[JsonDict, ...] = ()

    def as_dict(self) -> JsonDict:
        fields = dataclasses.asdict(self)
        fields.pop("geometry")
        fields["steps"] = list(self.steps)
        extra = self.geometry.as_dict() if self.geometry is not None else {}
        return {"mode": "live", **fields, **extra}


class EpisodeSetupError(Exception):
    """No episode can be set up: the prompts, the scene or the graph (message says which)."""


@dataclass(frozen=True)
class PreparedEpisode:
    """What the CLI knows before the graph starts. ``size_m``/``yaw_rad``: the picked object's
    true extents along its own axes and its yaw in the plan frame: they judge the perception (and
    fill the goal only with ``geometry="truth"``, for comparison runs). ``referring``: the ground
    truth of the static camera."""

    task: EpisodeTask
    obj: ObjectSpec
    size_m: tuple[float, float, float]
    yaw_rad: float
    referring: Path


def prepare(options: LiveOptions, work: Path) -> PreparedEpisode:
    """The task the options name (or one drawn from the scene) and what the goal says of it."""
    with build_episode_scene(options.seed, options.robot) as built:
        scene, queries = built.scene, built.queries
        if options.pick_prompt is not None and options.place_prompt is not None:
            task = resolve_task(queries, options.pick_prompt, options.place_prompt)
        else:
            task = draw_task(scene, queries)
        assert task.pick.target_index is not None
        obj = scene.spec.objects[task.pick.target_index]
        _, T_plan_from_base = plan_frame_of(scene)
        yaw = yaw_of(T_plan_from_base @ scene.body_pose(obj.name))
    referring = work / "referring.json"
    dump_referring(referring_of(queries), referring)
    return PreparedEpisode(task, obj, object_extents_m(obj, 0.0), yaw, referring)


def graph_specs(options: LiveOptions, referring: Path, python: str) -> list[ProcessSpec]:
    """The three node processes of the episode."""
    camera = {
        "color/image_raw": f"{CAMERA_NS}/color/image_raw",
        "color/camera_info": f"{CAMERA_NS}/color/camera_info",
    }
    sim_params: dict[str, object] = {
        "seed": options.seed,
        "robot": options.robot,
        "realtime": options.realtime,
        "rate_hz": float(options.rate_hz),
    }
    if options.frames_dir is not None:
        sim_params["frames_dir"] = str(options.frames_dir.resolve())
    sim_remaps = [
        *camera.items(),
        (
            "aligned_depth_to_color/image_raw",
            f"{CAMERA_NS}/aligned_depth_to_color/image_raw",
        ),
    ]
    refer_params: dict[str, object] = {
        **dataclasses.asdict(options.backend_options),
        "backend": options.backend,
        "model_timeout_s": float(options.model_timeout_s),
        "publish_annotated_image": False,
        "publish_markers": False,
    }
    if options.backend == "ground_truth" and not options.backend_options.referring_file:
        refer_params["referring_file"] = str(referring)
    refer_remaps = [
        *camera.items(),
        ("aligned_depth_to_color/image_raw", f"{CAMERA_NS}/aligned_depth_to_color/image_raw"),
    ]
    plan_frame = PLAN_FRAMES.get(options.robot, "base_link")
    refer_params["target_frame"] = plan_frame  # the G1's points in torso_link, as on the robot
    backend = MANIPULATION_BACKENDS[options.robot]
    robot_file, sim_overlay = (CONFIG / name for name in ROBOT_CONFIGS[options.robot])
    pick_params: dict[str, object] = {
        "manipulation_backend": backend,
        "plan_frame": plan_frame,
        "refer_timeout_s": float(options.model_timeout_s) + 10.0,
    }

    def node(
        name: str, module: str, params: dict[str, object], files: list[Path], remaps: Any
    ) -> ProcessSpec:
        argv = (python, "-m", module, *ros_arguments(name, params, files, remaps))
        return ProcessSpec(name, argv)

    # The robot's own file, then the simulation's overlay: config/ur5.yaml runs unchanged.
    robot_files = [robot_file, sim_overlay]
    specs = [
        node("sim_node", "roborefer_ros.tools.sim_node", sim_params, [], sim_remaps),
        node(
            "refer_node", "roborefer_ros.tools.refer_node", refer_params, robot_files, refer_remaps
        ),
        node(  # the camera too: the g1 backend checks its plans against the depth
            "pick_place_node",
            "roborefer_ros.tools.pick_place_node",
            pick_params,
            robot_files,
            refer_remaps,
        ),
    ]
    if backend == "moveit":
        specs.append(
            node("move_group", "roborefer_ros.tools.sim_move_group", {}, [CONFIG / "sim.yaml"], [])
        )
    return specs


class _Observer:
    """The episode's own node: PickPlace client, RefPoint probe, TF and camera watcher."""

    def __init__(self, object_frame: str, robot: str) -> None:
        import rclpy
        from rclpy.action.client import ActionClient
        from rclpy.context import Context
        from sensor_msgs.msg import CameraInfo
        from tf2_msgs.msg import TFMessage

        from roborefer_ros.action import PickPlace
        from roborefer_ros.ros.spin_thread import SpinThread
        from roborefer_ros.ros.tf import TF_QOS
        from roborefer_ros.srv import RefPoint

        self.context = Context()
        rclpy.init(context=self.context)
        # spun once its action clients exist (SpinThread's docstring)
        self._spin = SpinThread(f"sim_pickplace_{os.getpid()}", context=self.context, start=False)
        self.node = self._spin.node
        self.object_frame = object_frame
        self.pose: Transform | None = None
        self.pose_stamp_ns = 0
        self.frame_times: list[float] = []
        self._lock = threading.Lock()
        self.pick_place: Any = ActionClient(self.node, PickPlace, ACTION)
        # the arm's interface: move_group's action (UR5e) or the G1's state stream
        self.arm_seen = threading.Event()
        self._arm_watch: Any = None
        if MANIPULATION_BACKENDS[robot] == "moveit":
            from moveit_msgs.action import MoveGroup

            move: Any = ActionClient(self.node, MoveGroup, MOVE_ACTION)
            self.arm_name = MOVE_ACTION
            self.arm_ready: Callable[[], bool] = move.server_is_ready
        else:
            from rclpy.qos import QoSProfile, ReliabilityPolicy
            from unitree_hg.msg import LowState

            state_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
            self._arm_watch = self.node.create_subscription(
                LowState, LOWSTATE_TOPIC, lambda _raw: self.arm_seen.set(), state_qos, raw=True
            )
            self.arm_name = LOWSTATE_TOPIC
            self.arm_ready = self.arm_seen.is_set
        self.refer: Any = self.node.create_client(RefPoint, REFER_SERVICE)
        self.node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
        self.node.create_subscription(
            CameraInfo, f"{CAMERA_NS}/color/camera_info", self._on_info, 10
        )
        self._spin.start()

    def stop_watching_arm(self) -> None:
        """Drop the /lowstate subscription once the arm is seen: 500 callbacks a second in this
        process would take CPU from the simulated robot for the whole episode."""
        if self._arm_watch is not None:
            self.node.destroy_subscription(self._arm_watch)
            self._arm_watch = None

    def _on_tf(self, msg: Any) -> None:
        for t in msg.transforms:
            if t.child_frame_id == self.object_frame:
                tr, q = t.transform.translation, t.transform.rotation
                stamp = t.header.stamp.sec * 1_000_000_000 + t.header.stamp.nanosec
                with self._lock:
                    self.pose = Transform((tr.x, tr.y, tr.z), (q.x, q.y, q.z, q.w))
                    self.pose_stamp_ns = stamp

    def _on_info(self, _msg: Any) -> None:
        with self._lock:
            self.frame_times.append(time.monotonic())

    def object_pose_after(self, stamp_ns: int, timeout_s: float) -> Transform | None:
        """The object's pose from a TF stamped at or after ``stamp_ns`` (the sim node stamps
        with the wall clock), waiting up to ``timeout_s``; None if none came. The newest pose
        received is not enough: on a loaded machine /tf can reach this process seconds late, and
        a pose from the carry would be judged as the rest."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if self.pose is not None and self.pose_stamp_ns >= stamp_ns:
                    return self.pose
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def frames_between(self, t0: float, t1: float) -> int:
        with self._lock:
            return sum(1 for t in self.frame_times if t0 <= t <= t1)

    def close(self) -> None:
        import rclpy

        self._spin.close()
        rclpy.try_shutdown(context=self.context)


def _wait(future: Any, timeout_s: float, alive: Callable[[], bool]) -> Any:
    deadline = time.monotonic() + timeout_s
    while not future.done():
        if time.monotonic() > deadline:
            raise EpisodeSetupError(f"no answer within {timeout_s:g} s")
        if not alive():
            raise EpisodeSetupError("a node of the graph exited (see the log)")
        time.sleep(0.01)
    return future.result()


def _send_goal(
    observer: _Observer, goal: Any, feedback: Callable[[Any], None], alive: Callable[[], bool]
) -> Any:
    """Send the PickPlace goal, resending it under the same goal id while no answer comes.

    A request sent just after the server was discovered can be lost on a busy machine (the
    episode then waited for an answer that never came, and the arm never moved). Resending the
    same id cannot start a second pick: the server refuses an id it already has, which tells
    that the first one got through, and the episode then follows that goal.
    """
    from rclpy.action.client import ClientGoalHandle
    from unique_identifier_msgs.msg import UUID

    from roborefer_ros.action import PickPlace

    goal_id = UUID(uuid=list(uuid.uuid4().bytes))
    for attempt in range(GOAL_SENDS):
        future = observer.pick_place.send_goal_async(
            goal, feedback_callback=feedback, goal_uuid=goal_id
        )
        try:
            handle = _wait(future, GOAL_ANSWER_S, alive)
        except EpisodeSetupError:
            if not alive():
                raise
            continue
        if handle is not None and handle.accepted:
            return handle
        if attempt == 0:
            raise EpisodeSetupError(f"{ACTION} rejected the goal")
        accepted = PickPlace.Impl.SendGoalService.Response(accepted=True)
        return ClientGoalHandle(observer.pick_place, goal_id, accepted)
    raise EpisodeSetupError(
        f"{ACTION} did not answer the goal ({GOAL_SENDS} sends, {GOAL_ANSWER_S:g} s each)"
    )


def exit_cause(launcher: Launcher, log_path: str) -> str:
    """Which node of the graph exited and the last thing it said (its own error line: "refer_node:
    configuration rejected: unknown backend ..."), for the one-line message of the CLI."""
    dead = next((c for c in launcher.children if c.proc.poll() is not None), None)
    if dead is None:
        return "a node of the graph exited (see the log)"
    name = dead.spec.name
    said = ""
    with contextlib.suppress(OSError):
        prefix = f"[{name}] "
        lines = [
            line[len(prefix) :].strip()
            for line in Path(log_path).read_text(errors="replace").splitlines()
            if line.startswith(prefix) and "[INFO]" not in line
        ]
        said = next((line for line in reversed(lines) if line), "")
    code = dead.proc.returncode
    return f"{name} exited with code {code}" + (f": {said}" if said else " (see the log)")


def _wait_until_ready(
    observer: _Observer,
    pick_prompt: str,
    startup_timeout_s: float,
    alive: Callable[[], bool],
    died: Callable[[], EpisodeSetupError],
) -> None:
    """The graph is up when the PickPlace action is served, the arm's interface is there
    (move_group's action, the G1's /lowstate) and the refer node answers the pick instruction
    from a live frame. The refer node is asked from the moment its service appears
    (it answers before sim_node has built its scene), so a model it cannot load (server down,
    wrong URL) is reported at once, in its own words; a node that exits is named with its last
    line."""
    from roborefer_ros.srv import RefPoint

    probe = RefPoint.Request(prompt=pick_prompt, mode=RefPoint.Request.MODE_LOCATE)
    interfaces = (
        (ACTION, observer.pick_place.server_is_ready),
        (observer.arm_name, observer.arm_ready),
    )
    deadline = time.monotonic() + startup_timeout_s
    response = None
    while True:
        if not alive():
            raise died()
        missing = [name for name, ready in interfaces if not ready()]
        if observer.refer.service_is_ready():
            remaining = max(1.0, min(PROBE_TIMEOUT_S, deadline - time.monotonic()))
            future = observer.refer.call_async(probe)
            try:
                response = _wait(future, remaining, alive)
            except EpisodeSetupError:
                if not alive():
                    raise died() from None
                observer.refer.remove_pending_request(future)
                if time.monotonic() <= deadline:
                    continue  # a request sent just as the service appeared can be lost: ask again
            if response is not None and response.success and not missing:
                return
            if response is not None and response.message.startswith(MODEL_NOT_LOADED):
                # The node keeps retrying its model, but this episode should not wait for it.
                raise EpisodeSetupError(f"the refer node is not ready: {response.message}")
        if time.monotonic() > deadline:
            if missing:
                raise EpisodeSetupError(f"{missing[0]} did not appear")
            why = (
                f"no answer from {REFER_SERVICE} within {startup_timeout_s:g} s"
                if response is None
                else f"its last answer within {startup_timeout_s:g} s: {response.message}"
            )
            raise EpisodeSetupError(f"the refer node is not ready: {why}")
        time.sleep(0.2)


def run_live_episode(options: LiveOptions, python: str, log: IO[str]) -> LiveResult:
    """Start the graph, run the episode, stop the graph (always). EpisodeSetupError when the
    task or the graph cannot be set up; every outcome after that is a LiveResult."""
    import tempfile

    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        work = options.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        prepared = prepare(options, work)
        task, obj, referring = prepared.task, prepared.obj, prepared.referring
        setup_s = time.monotonic() - started
        launcher = Launcher(graph_specs(options, referring, python), grace_s=5.0, out=log)
        exit_code: list[int] = []
        runner = threading.Thread(target=lambda: exit_code.append(launcher.run()), daemon=True)
        runner.start()
        stack.callback(runner.join, 15.0)
        stack.callback(launcher.request_stop)
        observer = _Observer("object/" + obj.name, options.robot)
        stack.callback(observer.close)
        log_name = str(getattr(log, "name", ""))

        def alive() -> bool:
            # every node still running (the launcher stops the others when one dies)
            return runner.is_alive() and all(c.proc.poll() is None for c in launcher.children)

        def died() -> EpisodeSetupError:
            log.flush()
            return EpisodeSetupError(exit_cause(launcher, log_name))

        try:
            _wait_until_ready(observer, task.pick.prompt, options.startup_timeout_s, alive, died)
            observer.stop_watching_arm()
        except EpisodeSetupError:
            launcher.grace_s = SETUP_FAILED_GRACE_S  # nothing to finish: do not wait on a build
            raise
        ready_s = time.monotonic() - started

        goal = pick_place_goal(prepared, options.geometry)
        moving: list[float] = []

        def feedback(msg: Any) -> None:
            if not moving and msg.feedback.step_label:
                moving.append(time.monotonic())

        t_goal = time.monotonic()
        handle = _send_goal(observer, goal, feedback, alive)
        response = _wait(handle.get_result_async(), options.goal_timeout_s, alive)
        t_done = time.monotonic()
        result = response.result
        # The object comes to rest (the sim runs on): judge a pose stamped rest_s after the end.
        rested_ns = time.time_ns() + round(options.rest_s * 1e9)
        pose = observer.object_pose_after(rested_ns, options.rest_s + POSE_WAIT_S)
        camera_rate = None
        if moving and t_done - moving[0] > 0.5:
            camera_rate = observer.frames_between(moving[0], t_done) / (t_done - moving[0])
        status = PickPlaceStatus(int(result.status))
        verdict, error, message = _judge(
            status, str(result.message), pose, obj, task, options.tolerance_m
        )
        timings = {
            "setup_s": setup_s,
            "graph_ready_s": ready_s - setup_s,
            "goal_s": t_done - t_goal,
            "total_s": time.monotonic() - started,
        }
    return LiveResult(
        success=verdict,
        object=obj.name,
        place_error_m=error,
        status="succeeded" if status is PickPlaceStatus.OK else status.name.lower(),
        message=message,
        seed=options.seed,
        robot=options.robot,
        pick_prompt=task.pick.prompt,
        place_prompt=task.place.prompt,
        backend=options.backend,
        timings=timings,
        camera_rate_hz_moving=camera_rate,
        log=getattr(log, "name", ""),
        geometry=_geometry_report(options.geometry, prepared, result),
        manipulation_backend=MANIPULATION_BACKENDS[options.robot],
        steps=step_timings(result),
    )


def step_timings(result: Any) -> tuple[JsonDict, ...]:
    """Per step pick_place_node ran: its label, wall time, and planning / execution shares
    (planning 0 where the backend does not tell)."""
    planning = list(result.step_planning_s)
    rows = []
    for i, (label, total) in enumerate(
        zip(result.step_labels, result.step_durations_s, strict=False)
    ):
        planned = float(planning[i]) if i < len(planning) else 0.0
        rows.append(
            {
                "label": str(label),
                "total_s": round(float(total), 3),
                "planning_s": round(planned, 3),
                "execution_s": round(max(0.0, float(total) - planned), 3),
            }
        )
    return tuple(rows)


def pick_place_goal(prepared: PreparedEpisode, geometry: str) -> Any:
    """The PickPlace goal of the episode: the two instructions only, as a task planner has them
    (the node perceives the object's size and yaw in the frame); with ``geometry="truth"``
    (comparison runs) also the simulator's true size and yaw."""
    from roborefer_ros.action import PickPlace

    goal = PickPlace.Goal(
        pick_prompt=prepared.task.pick.prompt, place_prompt=prepared.task.place.prompt
    )
    if geometry == "truth":
        goal.object_size_m.x, goal.object_size_m.y, goal.object_size_m.z = prepared.size_m
        goal.object_yaw_known, goal.object_yaw_rad = True, prepared.yaw_rad
    return goal


def _geometry_report(source: str, prepared: PreparedEpisode, result: Any) -> GeometryReport:
    """The geometry the node planned with (PickPlace result) beside the simulator's truth."""
    used = str(result.object_geometry)
    size = result.object_size_used_m
    perceived = used == "perceived"
    return GeometryReport(
        source=source,
        true_size_m=prepared.size_m,
        true_yaw_rad=prepared.yaw_rad,
        perceived_size_m=(float(size.x), float(size.y), float(size.z)) if perceived else None,
        perceived_yaw_rad=float(result.object_yaw_used_rad) if perceived else None,
        perceived_shape="",
        perceived_confidence=0.0,
        note="" if perceived or source == "truth" else f"the node planned with {used!r}",
    )


def _judge(
    status: PickPlaceStatus,
    message: str,
    pose: Transform | None,
    obj: ObjectSpec,
    task: EpisodeTask,
    tolerance_m: float,
) -> tuple[bool, float | None, str]:
    """(success, xy error from the place point, message)."""
    if status is not PickPlaceStatus.OK:
        return False, None, message
    if pose is None:
        return (
            False,
            None,
            f"no TF of object/{obj.name} from sim_node stamped after the goal's end + rest",
        )
    verdict = judge_rest(obj, pose, task.place.point_base, tolerance_m)
    return verdict.failure is None, verdict.error_m, verdict.message
