"""One pick-and-place episode on a live graph: sim_node + refer_node + pick_place_node.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from roborefer_ros.backends.registry import BackendOptions
from roborefer_ros.core.referring import dump_referring
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.manipulation.grasp_planner import GraspConfig
from roborefer_ros.sim import ObjectSpec
from roborefer_ros.sim.episodes.episode import (
    GRASP_CONFIGS,
    PLAN_FRAMES,
    EpisodeTask,
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
SIM_ACTION = "/sim_node/execute_steps"  # pick_place_node's sim_action
REFER_SERVICE = "/refer_node/refer"
POSE_WAIT_S = 15.0  # beyond rest_s, for a TF stamped after the rest to arrive


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

    def as_dict(self) -> JsonDict:
        return {"mode": "live", **dataclasses.asdict(self)}


class EpisodeSetupError(Exception):
    """No episode can be set up: the prompts, the scene or the graph (message says which)."""


@dataclass(frozen=True)
class PreparedEpisode:
    """What the CLI knows before the graph starts. ``size_m``/``yaw_rad``: the picked object's
    extents along its own axes and its yaw in the plan frame (ground truth, as the in-process
    episode tells the planner; on a robot they would come from perception) for the goal's
    ``object_size_m`` / ``object_yaw_rad``. ``referring``: the ground truth of the static camera."""

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


def grasp_parameters(grasp: GraspConfig) -> dict[str, object]:
    """pick_place_node's parameters for a GraspConfig (ros.pick_place.params reads them back)."""
    params: dict[str, object] = {
        "grasp_style": grasp.style.value,
        "approach_distance_m": float(grasp.approach_distance_m),
        "place_approach_distance_m": float(grasp.place_approach_distance_m or 0.0),
        "lift_distance_m": float(grasp.lift_distance_m),
        "retreat_distance_m": float(grasp.retreat_distance_m),
        "place_clearance_m": float(grasp.place_clearance_m),
        "max_finger_depth_m": float(grasp.max_finger_depth_m),
        "default_object_size_m": [float(v) for v in grasp.default_object_size_m],
        "grasp_yaw_auto": grasp.grasp_yaw_rad is None,
        "frontal_roll_rad": float(grasp.frontal_roll_rad),
        "frontal_min_height_m": float(grasp.frontal_min_height_m),
        "linear_speed_scale": float(grasp.linear_speed_scale),
    }
    if grasp.grasp_yaw_rad is not None:
        params["grasp_yaw_rad"] = float(grasp.grasp_yaw_rad)
    return params


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
        ("aligned_depth/image_raw", f"{CAMERA_NS}/aligned_depth_to_color/image_raw"),
    ]
    plan_frame = PLAN_FRAMES.get(options.robot, "base_link")
    refer_params["target_frame"] = plan_frame  # the G1's points in torso_link, as on the robot
    pick_params: dict[str, object] = {
        "manipulation_backend": "sim",
        "plan_frame": plan_frame,
        **grasp_parameters(GRASP_CONFIGS[options.robot]),
        "refer_timeout_s": float(options.model_timeout_s) + 10.0,
        "sim_timeout_s": float(options.goal_timeout_s),
    }

    # The G1's workspace box (torso_link); the grasp settings above are the in-process
    # episode's (GRASP_CONFIGS) and win over the file's.
    robot_params = [CONFIG / "g1.yaml"] if options.robot == "g1" else []

    def node(name: str, module: str, params: dict[str, object], remaps: Any) -> ProcessSpec:
        argv = (python, "-m", module, *ros_arguments(name, params, [], remaps))
        return ProcessSpec(name, argv)

    return [
        node("sim_node", "roborefer_ros.tools.sim_node", sim_params, sim_remaps),
        node("refer_node", "roborefer_ros.tools.refer_node", refer_params, refer_remaps),
        ProcessSpec(
            "pick_place_node",
            (
                python,
                "-m",
                "roborefer_ros.tools.pick_place_node",
                *ros_arguments("pick_place_node", pick_params, robot_params, []),
            ),
        ),
    ]


class _Observer:
    """The episode's own node: PickPlace client, RefPoint probe, TF and camera watcher."""

    def __init__(self, object_frame: str) -> None:
        import rclpy
        from rclpy.action.client import ActionClient
        from rclpy.context import Context
        from sensor_msgs.msg import CameraInfo
        from tf2_msgs.msg import TFMessage

        from roborefer_ros.action import ExecuteSteps, PickPlace
        from roborefer_ros.ros.spin_thread import SpinThread
        from roborefer_ros.ros.tf import TF_QOS
        from roborefer_ros.srv import RefPoint

        self.context = Context()
        rclpy.init(context=self.context)
        self._spin = SpinThread(f"sim_pickplace_{os.getpid()}", context=self.context)
        self.node = self._spin.node
        self.object_frame = object_frame
        self.pose: Transform | None = None
        self.pose_stamp_ns = 0
        self.frame_times: list[float] = []
        self._lock = threading.Lock()
        self.pick_place: Any = ActionClient(self.node, PickPlace, ACTION)
        self.execute_steps: Any = ActionClient(self.node, ExecuteSteps, SIM_ACTION)
        self.refer: Any = self.node.create_client(RefPoint, REFER_SERVICE)
        self.node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
        self.node.create_subscription(
            CameraInfo, f"{CAMERA_NS}/color/camera_info", self._on_info, 10
        )

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


def run_live_episode(options: LiveOptions, python: str, log: IO[str]) -> LiveResult:
    """Start the graph, run the episode, stop the graph (always). EpisodeSetupError when the
    task or the graph cannot be set up; every outcome after that is a LiveResult."""
    import tempfile

    from roborefer_ros.action import PickPlace
    from roborefer_ros.srv import RefPoint

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
        observer = _Observer("object/" + obj.name)
        stack.callback(observer.close)
        alive = runner.is_alive

        # The graph is up when both actions are served and the refer node answers the pick
        # instruction from a live frame.
        deadline = time.monotonic() + options.startup_timeout_s
        for name, client in ((ACTION, observer.pick_place), (SIM_ACTION, observer.execute_steps)):
            while not client.server_is_ready():
                if not alive():
                    raise EpisodeSetupError("a node of the graph exited (see the log)")
                if time.monotonic() > deadline:
                    raise EpisodeSetupError(f"{name} did not appear")
                time.sleep(0.1)
        probe = RefPoint.Request(prompt=task.pick.prompt, mode=RefPoint.Request.MODE_LOCATE)
        while True:
            if not observer.refer.wait_for_service(timeout_sec=1.0):
                response = None
            else:
                remaining = max(1.0, deadline - time.monotonic())
                response = _wait(observer.refer.call_async(probe), remaining, alive)
            if response is not None and response.success:
                break
            if time.monotonic() > deadline or not alive():
                why = (
                    f"no {REFER_SERVICE} service after {options.startup_timeout_s:g} s"
                    if response is None
                    else response.message
                )
                raise EpisodeSetupError(f"the refer node is not ready: {why}")
            time.sleep(0.2)
        ready_s = time.monotonic() - started

        goal = PickPlace.Goal(pick_prompt=task.pick.prompt, place_prompt=task.place.prompt)
        goal.object_size_m.x, goal.object_size_m.y, goal.object_size_m.z = prepared.size_m
        goal.object_yaw_known, goal.object_yaw_rad = True, prepared.yaw_rad
        moving: list[float] = []

        def feedback(msg: Any) -> None:
            if not moving and msg.feedback.step_label:
                moving.append(time.monotonic())

        t_goal = time.monotonic()
        handle = _wait(
            observer.pick_place.send_goal_async(goal, feedback_callback=feedback), 10.0, alive
        )
        if handle is None or not handle.accepted:
            raise EpisodeSetupError(f"{ACTION} rejected the goal")
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
