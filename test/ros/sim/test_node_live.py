"""sim_node on a live graph: the camera (colour, aligned depth, camera_info) and TF (static camera,
dynamic object frames) are published, also while the arm moves; the ``sim`` manipulation backend
(an ExecuteSteps client) runs a plan there, forwards a cancel, and says "sim node not running"
when there is no server."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sensor_msgs.msg import CameraInfo, Image
from tf2_msgs.msg import TFMessage

from roborefer_ros.core.transforms import Transform
from roborefer_ros.manipulation.backend_context import BackendContext
from roborefer_ros.manipulation.steps import (
    ExecutionStatus,
    Stage,
    Step,
    StepKind,
    StepPlan,
)
from roborefer_ros.ros.graph import GraphClient, NodeProcess
from roborefer_ros.ros.pick_place.sim_backend import ExecuteStepsBackend, make_execute_steps_backend
from roborefer_ros.ros.tf import TF_QOS, TF_STATIC_QOS

pytestmark = pytest.mark.graph

DOWN = (1.0, 0.0, 0.0, 0.0)  # TCP z pointing down (x turned half a turn)


def _plan(*xyz: tuple[float, float, float], speed: float = 1.0) -> StepPlan:
    steps = tuple(
        Step(StepKind.MOVE, Stage.APPROACH, f"move{i}", Transform(p, DOWN), speed)
        for i, p in enumerate(xyz)
    )
    return StepPlan("base_link", steps)


class _Watch:
    """Counts camera frames (with their wall times) and keeps the TF it saw."""

    def __init__(self, graph: GraphClient) -> None:
        self.lock = threading.Lock()
        self.frames: dict[str, list[float]] = {"color": [], "depth": [], "info": []}
        self.encodings: set[str] = set()
        self.dynamic: dict[str, Any] = {}
        self.static: dict[str, Any] = {}
        node = graph.node
        node.create_subscription(Image, "/cam/color/image_raw", self._seen("color"), 5)
        node.create_subscription(
            Image, "/cam/aligned_depth_to_color/image_raw", self._seen("depth"), 5
        )
        node.create_subscription(CameraInfo, "/cam/color/camera_info", self._seen("info"), 5)
        node.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
        node.create_subscription(TFMessage, "/tf_static", self._on_static, TF_STATIC_QOS)

    def _seen(self, what: str) -> Any:
        def callback(msg: Any) -> None:
            with self.lock:
                self.frames[what].append(time.monotonic())
                if what == "depth":
                    self.encodings.add(msg.encoding)

        return callback

    def _on_tf(self, msg: Any) -> None:
        with self.lock:
            for t in msg.transforms:
                self.dynamic[t.child_frame_id] = t

    def _on_static(self, msg: Any) -> None:
        with self.lock:
            for t in msg.transforms:
                self.static[t.child_frame_id] = t

    def count(self, what: str, t0: float, t1: float) -> int:
        with self.lock:
            return sum(1 for t in self.frames[what] if t0 <= t <= t1)


@pytest.fixture(scope="module")
def sim_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    log = tmp_path_factory.mktemp("sim_node") / "sim_node.log"
    args = [
        "--ros-args",
        "-r",
        "__node:=sim_node",
        "-p",
        "seed:=13",
        "-p",
        "realtime:=true",  # a motion lasts long enough to count frames and to cancel
        "-p",
        "rate_hz:=10.0",
        "-r",
        "color/image_raw:=/cam/color/image_raw",
        "-r",
        "color/camera_info:=/cam/color/camera_info",
        "-r",
        "aligned_depth_to_color/image_raw:=/cam/aligned_depth_to_color/image_raw",
    ]
    proc = NodeProcess("roborefer_ros.tools.sim_node", args, int(os.environ["ROS_DOMAIN_ID"]), log)
    yield proc
    assert proc.stop() == 0, proc.log()[-3000:]


@pytest.fixture
def graph() -> Iterator[GraphClient]:
    client = GraphClient(f"sim_test_{os.getpid()}")
    yield client
    client.close()


def test_camera_tf_and_a_plan_with_the_camera_live_then_a_cancel(
    sim_node: NodeProcess, graph: GraphClient
) -> None:
    watch = _Watch(graph)
    backend = make_execute_steps_backend(BackendContext(graph.node, "base_link"))
    assert isinstance(backend, ExecuteStepsBackend)
    assert backend.action_name == "/sim_node/execute_steps"
    deadline = time.monotonic() + 40.0

    def ready() -> bool:  # server, a few frames and the object frames (TF comes on its own)
        objects = any(name.startswith("object/") for name in watch.dynamic)
        return backend.available()[0] and watch.count("color", 0, math.inf) >= 3 and objects

    while not ready():
        assert time.monotonic() < deadline, sim_node.log()[-3000:]
        assert sim_node.alive(), sim_node.log()[-3000:]
        time.sleep(0.1)
    assert watch.encodings == {"16UC1"}
    assert {"camera_link", "camera_color_optical_frame"} <= set(watch.static)
    assert watch.static["camera_link"].header.frame_id == "base_link"
    objects = [name for name in watch.dynamic if name.startswith("object/")]
    assert "object/obj4_box" in objects

    # A real plan: the camera keeps publishing while the arm moves.
    steps: list[tuple[int, str]] = []
    t0 = time.monotonic()
    result = backend.execute(
        _plan((0.45, 0.2, 0.35), (0.45, -0.2, 0.35)), lambda i, s: steps.append((i, s.label))
    )
    t1 = time.monotonic()
    assert result.status is ExecutionStatus.SUCCEEDED, result.message
    assert steps == [(0, "move0"), (1, "move1")]
    assert len(result.step_durations_s) == 2 and all(d > 0 for d in result.step_durations_s)
    moving_s = t1 - t0
    rate = watch.count("color", t0, t1) / moving_s
    print(f"camera {rate:.1f} Hz while the arm moved for {moving_s:.1f} s")
    assert rate >= 1.0, f"{rate:.1f} Hz while moving for {moving_s:.1f} s"

    # A cancel is forwarded: the arm stops within a control period.
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    result = backend.execute(_plan((0.45, 0.2, 0.35), speed=0.05), cancelled=cancel.is_set)
    assert result.status is ExecutionStatus.CANCELED, result.message

    # A plan the simulation refuses comes back as REJECTED, naming the frame.
    refused = backend.execute(StepPlan("map", _plan((0.45, 0.2, 0.35)).steps))
    assert refused.status is ExecutionStatus.REJECTED and "'map'" in refused.message


def test_no_sim_node_is_unavailable_naming_it(graph: GraphClient) -> None:
    backend = ExecuteStepsBackend(graph.node, "/nobody/execute_steps", server_wait_s=0.5)
    assert backend.available() == (False, backend._unavailable())
    started = time.monotonic()
    result = backend.execute(_plan((0.45, 0.2, 0.35)))
    assert time.monotonic() - started < 5.0
    assert result.status is ExecutionStatus.UNAVAILABLE
    assert "sim node not running" in result.message
    assert "/nobody/execute_steps" in result.message


def test_the_registry_points_sim_at_the_client(graph: GraphClient, tmp_path: Path) -> None:
    from roborefer_ros.ros.pick_place.registry import make_manipulation_backend

    backend = make_manipulation_backend("sim", BackendContext(graph.node, "base_link"))
    assert isinstance(backend, ExecuteStepsBackend)
