"""A simulated robot that lives on: a camera that keeps rendering while plans execute (ROS-free).

``SimWorld`` owns one dynamic ``SimScene`` and its simulated backend on one thread (the *sim
thread*: MuJoCo's data and the GL context live there). When idle, the sim thread holds the arm,
steps the physics to keep up with the wall clock and hands a ``SimSnapshot`` (RGB, depth, object
poses) to a sink every camera period. ``execute`` hands a StepPlan to the sim thread and waits for
its ExecutionResult; while the arm moves, the backend's per-control-period hook renders between
physics chunks whenever a camera period has passed, so the camera stays live. One lock guards
the MuJoCo data (physics, rendering, pose reads from other threads).

The camera stays at its pose of scene time 0 (a static camera: ``base_link -> camera`` never
changes), so the referring set of ``scene_referring`` (stamp 0, answered from the very first
frame) stays valid for the whole run, until the robot moves an object.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.camera import CameraModel
from roborefer_ros.core.referring import ReferringSet
from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.steps import (
    ExecutionResult,
    ExecutionStatus,
    Step,
    StepCallback,
    StepPlan,
)
from roborefer_ros.sim import (
    BASE_FRAME,
    GeneratedQuery,
    RenderedFrame,
    SimError,
    SimScene,
)
from roborefer_ros.sim._mj import import_mujoco
from roborefer_ros.sim.arms.factory import make_sim_backend
from roborefer_ros.sim.episodes.episode import build_episode_scene, episode_queries, strip_label
from roborefer_ros.sim.episodes.strip import KeyFrameWriter, plan_targets
from roborefer_ros.sim.robots.base import ROBOT_PREFIX
from roborefer_ros.sim.scene import CAMERA_NAME

_RENDER_GAP_REALTIME = 0.5  # physics time after a frame, as a share of that frame's render time
# Streaming: the camera thread rests this share of each frame's render time (at most half a core)
_RENDER_GAP_STREAMING = 1.0
_STREAM_MAX_LAG_S = 0.5  # a streaming physics this far behind the wall clock stops catching up


@dataclass(frozen=True)
class SimSnapshot:
    """One camera period: the frame of the camera (static, at its scene-time-0 pose) and where
    every object is.

    ``sim_time_s``: MuJoCo time. ``rgb``: HxWx3 uint8. ``depth_m``: HxW float32 metres along the
    optical axis, NaN = no return. ``T_base_from_link``: ``camera_link`` in base_link.
    ``object_poses``: (body name, ``T_base_from_object``)."""

    sim_time_s: float
    rgb: npt.NDArray[np.uint8]
    depth_m: npt.NDArray[np.float32]
    camera: CameraModel
    T_base_from_link: Transform
    object_poses: tuple[tuple[str, Transform], ...]


class LiveCamera:
    """RGB + depth of the scene's camera, without the segmentation pass of ``SimScene.render``
    (a third cheaper per frame); depth at the far clip plane is no return (NaN)."""

    def __init__(self, scene: SimScene) -> None:
        first = scene.render(0.0)  # puts the camera at its t=0 pose, for good
        self.scene = scene
        self.camera = first.camera
        self.T_base_from_link = first.T_base_from_link
        # made by the first capture, on the thread that renders (its GL context stays there)
        self._renderer: Any = None
        self._far_m = 0.99 * float(scene.model.vis.map.zfar * scene.model.stat.extent)

    def render(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        self.capture()
        return self.draw()

    def capture(self) -> None:
        """Take the scene's geometry now (read the MuJoCo data: hold its lock)."""
        if self._renderer is None:
            mujoco = import_mujoco()
            self._renderer = mujoco.Renderer(
                self.scene.model, height=self.camera.height, width=self.camera.width
            )
            flags = self._renderer.scene.flags
            for flag in ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX"):
                flags[getattr(mujoco.mjtRndFlag, flag)] = False
        self._renderer.update_scene(self.scene.data, camera=CAMERA_NAME)

    def draw(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        """RGB and depth of the last ``capture`` (no MuJoCo data read: no lock needed)."""
        renderer = self._renderer
        rgb = np.array(renderer.render(), dtype=np.uint8)
        renderer.enable_depth_rendering()
        depth = np.array(renderer.render(), dtype=np.float32)
        renderer.disable_depth_rendering()
        depth[depth >= self._far_m] = np.nan
        return rgb, depth

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


SnapshotSink = Callable[[SimSnapshot], None]
# (label, frame): start, grasp, lift, place, end of a plan (the PNG strip)
KeyFrameSink = Callable[[str, RenderedFrame], None]


def build_live_scene(
    seed: int, robot: str = "ur5e", width: int = 640, height: int = 480
) -> SimScene:
    """The scene a SimWorld runs: the episode scene of ``seed`` (``build_episode_scene``, free
    objects under gravity); SimError for an unknown robot or a seed without a task."""
    return build_episode_scene(seed, robot, width=width, height=height).scene


def scene_queries(scene: SimScene, seed: int) -> list[GeneratedQuery]:
    """The queries the in-process episode generates for this seed, on the scene's first frame (call
    before any physics step)."""
    return episode_queries(scene, scene.render(0.0), seed)


def referring_of(queries: list[GeneratedQuery]) -> ReferringSet:
    """A referring set for the ground_truth backend, every query stamped 0 (any frame)."""
    return ReferringSet(
        target_frame=BASE_FRAME, queries=tuple(q.to_referring_query(0) for q in queries)
    )


@dataclass
class _Job:
    plan: StepPlan
    on_step: StepCallback | None
    cancelled: Callable[[], bool]
    key_frames: KeyFrameSink | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: ExecutionResult | None = None


@dataclass
class _Work:
    """A piece of work for the sim thread (a controller's goal): ``fn(backend, hook)`` with the
    MuJoCo lock held; ``hook()`` after every control period publishes the camera and says
    whether to stop."""

    fn: Callable[[Any, Callable[[], bool]], Any]
    cancelled: Callable[[], bool]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class ArmState:
    """The simulated arm as its driver reports it: ``q``/``qd`` (rad, rad/s) in the arm's joint
    order, the hand's driver position, ``T_base_from_tool0`` (the flange) and the MuJoCo time."""

    sim_time_s: float
    q: tuple[float, ...]
    qd: tuple[float, ...]
    hand_position: float
    T_base_from_flange: Transform | None


class Streaming(Protocol):
    """A robot whose controllers run in physics between commands that stream in (the G1's
    motors, ``sim.arms.g1_lowlevel.G1LowLevel``): ``step()`` applies the newest commands and
    advances one period of ``period_s`` simulated seconds."""

    period_s: float

    @property
    def sim_time_s(self) -> float: ...

    def step(self) -> None: ...


StreamingFactory = Callable[[SimScene], Streaming]


class SimWorld:
    """The live simulation (see the module docstring). ``start`` builds the scene on the sim
    thread and raises SimError when it cannot (unknown robot, no MuJoCo).

    With ``streaming`` (made on the sim thread from the built scene) the world runs a streaming
    robot instead of holding the arm between goals: the sim thread steps it one period at a time,
    always at wall-clock speed (its commands are timed on the wall clock; when it falls more than
    ``_STREAM_MAX_LAG_S`` behind it stops catching up and ``lag_resets`` counts it), calls
    ``on_period(streaming)`` after each step with the lock held (its state stream), and runs
    ``run_on_sim`` work between periods; the camera renders on a thread of its own, holding the
    lock only to take the scene's geometry, so a frame never pauses the physics. ``execute``
    is refused (REJECTED): the arm takes streamed commands."""

    def __init__(
        self,
        seed: int,
        robot: str = "ur5e",
        *,
        rate_hz: float = 10.0,
        realtime: bool = True,
        width: int = 640,
        height: int = 480,
        sink: SnapshotSink | None = None,
        streaming: StreamingFactory | None = None,
        on_period: Callable[[Any], None] | None = None,
    ) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise SimError(f"rate_hz must be positive, got {rate_hz!r}")
        self.seed, self.robot, self.rate_hz, self.realtime = seed, robot, rate_hz, realtime
        self.width, self.height = width, height
        self.sink = sink
        self._key_frames: KeyFrameSink | None = None
        self.lock = threading.Lock()  # MuJoCo data: physics, rendering and pose reads
        self.scene: SimScene | None = None
        self.backend: Any = None
        self.frames_published = 0
        self._jobs: queue.Queue[_Job | _Work | None] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._next_frame = 0.0
        self._arm_state: ArmState | None = None
        self._camera: LiveCamera | None = None
        self._make_streaming = streaming
        self.on_period = on_period
        self.streaming: Any = None  # the streaming robot, once started
        self.periods = 0  # streaming periods stepped
        self.lag_resets = 0
        self._thread = threading.Thread(target=self._main, name="sim", daemon=True)

    # ---- lifecycle ----

    def start(self, timeout_s: float = 60.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise SimError(f"the simulation did not start within {timeout_s:g} s")
        if self._error is not None:
            raise SimError(f"the simulation could not start: {self._error}") from self._error

    def close(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)

    # ---- called from other threads ----

    def execute(
        self,
        plan: StepPlan,
        on_step: StepCallback | None = None,
        cancelled: Callable[[], bool] | None = None,
        key_frames: KeyFrameSink | None = None,
    ) -> ExecutionResult:
        """Run ``plan`` on the sim thread and wait for its result; ``on_step`` and ``key_frames``
        (start, grasp, lift, place, end) are called there."""
        if self._stop.is_set() or not self._thread.is_alive():
            return ExecutionResult(ExecutionStatus.UNAVAILABLE, "unavailable: simulation stopped")
        if self._make_streaming is not None:
            return ExecutionResult(
                ExecutionStatus.REJECTED, "rejected: this robot takes streamed motor commands"
            )
        job = _Job(plan, on_step, cancelled or (lambda: False), key_frames)
        self._jobs.put(job)
        while not job.done.wait(0.1):
            if not self._thread.is_alive():
                return ExecutionResult(
                    ExecutionStatus.UNAVAILABLE, "unavailable: the simulation thread ended"
                )
        assert job.result is not None
        return job.result

    def run_on_sim(
        self,
        fn: Callable[[Any, Callable[[], bool]], Any],
        cancelled: Callable[[], bool] | None = None,
    ) -> Any:
        """Run ``fn(backend, hook)`` on the sim thread (a controller's goal: a joint trajectory,
        a gripper command) and return its result; SimError when the simulation is stopped.
        ``hook()`` renders the camera between control periods and is True once ``cancelled()``
        (or the world closes)."""
        if self._stop.is_set() or not self._thread.is_alive():
            raise SimError("the simulation is stopped")
        work = _Work(fn, cancelled or (lambda: False))
        self._jobs.put(work)
        while not work.done.wait(0.1):
            if not self._thread.is_alive():
                raise SimError("the simulation thread ended")
        if work.error is not None:
            raise SimError(f"simulation error: {type(work.error).__name__}: {work.error}")
        return work.result

    def render_frame(self) -> Any:
        """The scene camera's frame now; on the sim thread (inside ``run_on_sim``)."""
        assert self.scene is not None
        return self.scene.render(0.0)

    def arm_hand_position(self) -> float:
        """The hand's driver position (0 open ... closed), from the latest arm state."""
        state = self._arm_state
        return 0.0 if state is None else state.hand_position

    @property
    def arm_state(self) -> ArmState | None:
        """The arm's latest state (updated every control period while it moves, every camera
        period while it is held); None before the first."""
        return self._arm_state

    def object_poses(self) -> tuple[tuple[str, Transform], ...]:
        with self.lock:
            return self._object_poses()

    # ---- the sim thread ----

    def _main(self) -> None:
        try:
            self.scene = build_live_scene(self.seed, self.robot, self.width, self.height)
            self.backend = make_sim_backend(self.scene, realtime=self.realtime)
            self._camera = LiveCamera(self.scene)
            ok, why = self.backend.available()
            if not ok:
                raise SimError(why)
            if self._make_streaming is not None:
                self.streaming = self._make_streaming(self.scene)
            else:
                self._publish(force=True)
        except BaseException as err:  # reported by start()
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            if self.streaming is not None:
                self._stream()
            else:
                self._loop()
        finally:
            assert self._camera is not None
            self._camera.close()
            self.scene.close()

    def _stream(self) -> None:
        """The streaming loop (see the class docstring)."""
        camera = threading.Thread(target=self._render_loop, name="sim-camera", daemon=True)
        camera.start()
        streaming = self.streaming
        anchor: tuple[float, float] | None = None
        try:
            while not self._stop.is_set():
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    job = None
                if isinstance(job, _Work):
                    self._run_work(job, render=False)
                    anchor = None  # the work took the time it took: no burst to catch up
                    continue
                with self.lock:
                    streaming.step()
                    self.periods += 1
                    if self.on_period is not None:
                        self.on_period(streaming)
                now, sim_now = time.monotonic(), streaming.sim_time_s
                if anchor is None:
                    anchor = (now, sim_now)
                ahead = (sim_now - anchor[1]) - (now - anchor[0])
                if ahead > 0:
                    time.sleep(ahead)
                elif ahead < -_STREAM_MAX_LAG_S:
                    anchor = (now, sim_now)
                    self.lag_resets += 1
        finally:
            self._stop.set()
            camera.join(timeout=10.0)

    def _render_loop(self) -> None:
        """The camera of a streaming world: the geometry taken under the lock, drawn outside
        it, at ``rate_hz`` at most and resting ``_RENDER_GAP_STREAMING`` of each frame's render
        time (on a slow CPU the camera rate drops, not the physics')."""
        assert self._camera is not None and self.scene is not None
        camera, scene = self._camera, self.scene
        next_frame = 0.0
        try:
            while not self._stop.is_set():
                wait = next_frame - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                    continue
                start = time.monotonic()
                with self.lock:
                    camera.capture()
                    sim_time, poses = float(scene.data.time), self._object_poses()
                rgb, depth = camera.draw()
                snapshot = SimSnapshot(
                    sim_time, rgb, depth, camera.camera, camera.T_base_from_link, poses
                )
                if self.sink is not None:
                    self.sink(snapshot)
                self.frames_published += 1
                end = time.monotonic()
                next_frame = max(
                    start + 1.0 / self.rate_hz, end + _RENDER_GAP_STREAMING * (end - start)
                )
        finally:
            camera.close()  # its GL context lives on this thread

    def _loop(self) -> None:
        period = 1.0 / self.rate_hz
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=max(0.0, self._next_frame - time.monotonic()))
            except queue.Empty:
                job = None
            if self._stop.is_set():
                break
            if isinstance(job, _Work):
                self._run_work(job)
                continue
            if job is not None:
                self._run(job)
                continue
            hold = getattr(self.backend, "hold", None)
            with self.lock:
                if hold is not None:  # the world goes on: objects settle, the arm is held
                    hold(period, self._update_arm_state)  # its state fresh every control period
                self._update_arm_state()
            self._publish(force=True)

    def _run_work(self, work: _Work, render: bool = True) -> None:
        def hook() -> bool:
            self._update_arm_state()
            if render:  # a streaming world's camera renders on its own thread
                self.lock.release()
                try:
                    self._publish()
                finally:
                    self.lock.acquire()
            return work.cancelled() or self._stop.is_set()

        try:
            with self.lock:
                work.result = work.fn(self.backend, hook)
                self._update_arm_state()
        except Exception as err:  # a bug in a controller: its goal fails, the world lives on
            work.error = err
        finally:
            work.done.set()

    def _update_arm_state(self) -> None:
        """With the lock held: the arm's state for its driver (joint states, the flange's TF)."""
        backend, scene = self.backend, self.scene
        if backend is None or scene is None or not hasattr(backend, "arm_qd"):
            return
        flange = None
        if self.robot == "ur5e":
            flange = scene.site_pose(ROBOT_PREFIX + "attachment_site")  # tool0
        self._arm_state = ArmState(
            float(scene.data.time),
            tuple(float(v) for v in backend.arm_q()),
            tuple(float(v) for v in backend.arm_qd()),
            float(backend.rig.hand_angle()),
            flange,
        )

    def _run(self, job: _Job) -> None:
        def hook() -> bool:
            # Called by the backend after every control period, between physics chunks.
            self.lock.release()
            try:
                self._publish()
            finally:
                self.lock.acquire()
            return job.cancelled() or self._stop.is_set()  # close() stops a running plan

        def on_step(index: int, step: Step) -> None:
            self._key_frame_for(step)
            if job.on_step is not None:
                job.on_step(index, step)

        self._grasped = False
        self._key_frames = job.key_frames
        if isinstance(job.key_frames, KeyFrameWriter):
            T_base_from_plan = self._T_base_from(job.plan.frame)
            if T_base_from_plan is not None:
                job.key_frames.set_targets(plan_targets(job.plan, T_base_from_plan))
        self._key_frame("start")
        try:
            with self.lock:
                job.result = self.backend.execute(job.plan, on_step, hook)
            if job.result.success:
                self._key_frame("end")
        except Exception as err:  # a bug in the backend: the goal fails, the world lives on
            job.result = ExecutionResult(
                ExecutionStatus.EXECUTION_FAILED, f"simulation error: {type(err).__name__}: {err}"
            )
        finally:
            self._key_frames = None
            job.done.set()

    def _T_base_from(self, frame: str) -> Transform | None:
        """The pose of a plan frame in the scene's base (the G1's torso_link is a body of the
        scene); None for a frame the scene does not have (the plan then fails on its own)."""
        if frame == BASE_FRAME:
            return Transform()
        assert self.scene is not None
        try:
            return self.scene.body_pose(ROBOT_PREFIX + frame)
        except SimError:
            return None

    def _key_frame_for(self, step: Step) -> None:
        label = strip_label(step, self._grasped)
        if label == "grasp":
            self._grasped = True
        if label is not None:
            self._key_frame(label)

    def _key_frame(self, label: str) -> None:
        if self._key_frames is not None:
            assert self.scene is not None
            self._key_frames(label, self.scene.render(0.0))

    def _publish(self, force: bool = False) -> None:
        """Render and hand a snapshot to the sink when a camera period has passed. The physics
        keeps its share of the wall time: a frame that took R seconds to render and publish is
        followed by at least R seconds of physics (R/2 when realtime), so on a slow CPU the
        camera rate drops, not the arm's progress."""
        start = time.monotonic()
        if not force and start < self._next_frame:
            return
        assert self.scene is not None and self._camera is not None
        with self.lock:
            rgb, depth = self._camera.render()
            snapshot = SimSnapshot(
                float(self.scene.data.time),
                rgb,
                depth,
                self._camera.camera,
                self._camera.T_base_from_link,
                self._object_poses(),
            )
        if self.sink is not None:
            self.sink(snapshot)
        self.frames_published += 1
        end = time.monotonic()
        # Realtime: the physics needs a small share of the wall clock (and sleeps the rest).
        share = _RENDER_GAP_REALTIME if self.realtime else 1.0
        self._next_frame = max(start + 1.0 / self.rate_hz, end + share * (end - start))

    def _object_poses(self) -> tuple[tuple[str, Transform], ...]:
        assert self.scene is not None
        data = self.scene.data
        poses = []
        for obj in self.scene.spec.objects:
            body = data.body(obj.name)
            w, x, y, z = (float(c) for c in body.xquat)
            p = body.xpos
            poses.append(
                (obj.name, Transform((float(p[0]), float(p[1]), float(p[2])), (x, y, z, w)))
            )
        return tuple(poses)
