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
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from roborefer_ros.sim.scene import CAMERA_NAME

_RENDER_GAP_REALTIME = 0.5  # physics time after a frame, as a share of that frame's render time


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
        mujoco = import_mujoco()
        first = scene.render(0.0)  # puts the camera at its t=0 pose, for good
        self.scene = scene
        self.camera = first.camera
        self.T_base_from_link = first.T_base_from_link
        self._renderer = mujoco.Renderer(
            scene.model, height=first.camera.height, width=first.camera.width
        )
        flags = self._renderer.scene.flags
        for flag in ("mjRND_SHADOW", "mjRND_REFLECTION", "mjRND_SKYBOX"):
            flags[getattr(mujoco.mjtRndFlag, flag)] = False
        self._far_m = 0.99 * float(scene.model.vis.map.zfar * scene.model.stat.extent)

    def render(self) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        renderer = self._renderer
        renderer.update_scene(self.scene.data, camera=CAMERA_NAME)
        rgb = np.array(renderer.render(), dtype=np.uint8)
        renderer.enable_depth_rendering()
        depth = np.array(renderer.render(), dtype=np.float32)
        renderer.disable_depth_rendering()
        depth[depth >= self._far_m] = np.nan
        return rgb, depth

    def close(self) -> None:
        self._renderer.close()


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


class SimWorld:
    """The live simulation (see the module docstring). ``start`` builds the scene on the sim
    thread and raises SimError when it cannot (unknown robot, no MuJoCo)."""

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
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._next_frame = 0.0
        self._camera: LiveCamera | None = None
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
        job = _Job(plan, on_step, cancelled or (lambda: False), key_frames)
        self._jobs.put(job)
        while not job.done.wait(0.1):
            if not self._thread.is_alive():
                return ExecutionResult(
                    ExecutionStatus.UNAVAILABLE, "unavailable: the simulation thread ended"
                )
        assert job.result is not None
        return job.result

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
            self._publish(force=True)
        except BaseException as err:  # reported by start()
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop()
        finally:
            assert self._camera is not None
            self._camera.close()
            self.scene.close()

    def _loop(self) -> None:
        period = 1.0 / self.rate_hz
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=max(0.0, self._next_frame - time.monotonic()))
            except queue.Empty:
                job = None
            if self._stop.is_set():
                break
            if job is not None:
                self._run(job)
                continue
            hold = getattr(self.backend, "hold", None)
            with self.lock:
                if hold is not None:
                    hold(period)  # the world goes on: objects settle, the arm is held
            self._publish(force=True)

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


class KeyFrameWriter:
    """A KeyFrameSink writing ``NN_label.png`` into a folder and, on ``close``, ``strip.png``
    (the key frames side by side at half size)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.images: list[npt.NDArray[np.uint8]] = []

    def __call__(self, label: str, frame: RenderedFrame) -> None:
        from PIL import Image

        Image.fromarray(frame.rgb).save(self.folder / f"{len(self.images):02d}_{label}.png")
        self.images.append(frame.rgb)

    def close(self) -> Path | None:
        """Write the strip of the frames so far; None when there are none."""
        from PIL import Image

        if not self.images:
            return None
        strip = np.concatenate([im[::2, ::2] for im in self.images], axis=1)
        path = self.folder / "strip.png"
        Image.fromarray(strip).save(path)
        return path
