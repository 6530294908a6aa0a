"""Fixtures for live-graph tests: a synthetic camera, ground truth and a refer node process."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from roborefer_ros.srv import RefPoint

from roborefer_ros.backends.parsers import format_roborefer_answer
from roborefer_ros.core.status import Status
from roborefer_ros.ros.conversions import time_msg
from roborefer_ros.ros.graph import GraphClient, NodeProcess, ScenePublisher, refer_node_args
from roborefer_ros.sim.analytic_scene import SyntheticScene


@contextlib.contextmanager
def spinning(context: Context, *nodes: Node) -> Iterator[threading.Thread]:
    """The nodes (in ``context``, rclpy.init done) on a 4-thread executor in a thread; on exit
    the executor, the nodes and the context are shut down."""
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        for node in nodes:
            executor.add_node(node)
        spinner.start()
        yield spinner
    finally:
        executor.shutdown(timeout_sec=2.0)
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown(context=context)
        spinner.join(timeout=5.0)


def wait_future(future: object, timeout_s: float) -> object:
    """The future's result, polled (the executor runs elsewhere); fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not future.done():  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"no answer within {timeout_s} s"
        time.sleep(0.005)
    return future.result()  # type: ignore[attr-defined]


@pytest.fixture
def domain_id() -> int:
    return int(os.environ["ROS_DOMAIN_ID"])


@pytest.fixture
def graph() -> Iterator[GraphClient]:
    client = GraphClient(f"test_client_{os.getpid()}")
    yield client
    client.close()


def write_referring(path: Path, target_frame: str, queries: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"target_frame": target_frame, "queries": queries}))
    return path


def start_refer_node(
    tmp_path: Path, domain_id: int, params: dict[str, object], name: str = "refer_node"
) -> NodeProcess:
    node = NodeProcess(
        "roborefer_ros.tools.refer_node",
        refer_node_args(name, params),
        domain_id,
        tmp_path / f"{name}.log",
    )
    time.sleep(0.1)
    return node


SCENE = SyntheticScene()  # static camera
RED = next(b for b in SCENE.boxes if b.name == "red box")
U, V = SCENE.pixel_of(RED.top_center, 0.0)
GOOD = format_roborefer_answer([(U / SCENE.width, V / SCENE.height)])
HOLE = (int(U) - 20, int(V) - 20, int(U) + 20, int(V) + 20)
ANSWERS = {
    "the red box": (GOOD, 0.0),
    "the red box, slowly": (GOOD, 0.6),
    "the red box, too slowly": (GOOD, 3.0),
    "something unreadable": ("I am not sure what you mean.", 0.0),
    "something off the image": ("[(1.5, 0.5)]", 0.0),
}


@dataclass
class Rig:
    graph: GraphClient
    node: NodeProcess
    client: object
    publisher: ScenePublisher
    t_s: float = 0.0

    def frame(self, **faults: object) -> int:
        self.t_s += 0.1
        return self.publisher.publish_at(self.t_s, **faults)  # type: ignore[arg-type]

    def ask(
        self,
        prompt: str = "the red box",
        stamp: int = 0,
        resend_s: float | None = None,
        **fields: object,
    ) -> RefPoint.Response:
        """``resend_s``: for a first request to a just-started node (``GraphClient.call``)."""
        request = RefPoint.Request(prompt=prompt, min_stamp=time_msg(stamp), **fields)
        timeout_s = 15.0 if resend_s is None else 30.0
        return self.graph.call(self.client, request, timeout_s=timeout_s, resend_s=resend_s)

    def ask_good(self) -> None:
        stamp = self.frame()
        response = self.ask(stamp=stamp)
        assert response.status == Status.OK, (response.message, self.node.log()[-2000:])
        assert len(response.points) == 1


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    """A refer node on the recorded backend with a static synthetic camera, for one module."""
    tmp = tmp_path_factory.mktemp("faults")
    answers = tmp / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "format": "roborefer",
                "answers": [
                    {"prompt": p, "answer": a, "delay_s": d} for p, (a, d) in ANSWERS.items()
                ],
            }
        )
    )
    graph = GraphClient(f"fault_client_{os.getpid()}")
    node = start_refer_node(
        tmp,
        int(os.environ["ROS_DOMAIN_ID"]),
        {
            "backend": "recorded",
            "answers_file": str(answers),
            "qos_reliability": "reliable",
            "tf_implementation": "own",
            "max_frame_age_s": 1.0,
            # a lost fragment of a big reliable image is repaired in ~3 s
            "frame_wait_timeout_s": 5.0,
            "model_timeout_s": 1.5,
            "tf_timeout_s": 4.0,  # a /tf sample lost after discovery is resent in ~3 s
            "max_pending_requests": 2,
            "frame_ring_size": 16,
        },
    )
    try:
        client = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client)
        publisher = ScenePublisher(graph, SCENE, t0_ns=time.time_ns())
        time.sleep(0.5)  # let the camera topics match before the first frame
        rig = Rig(graph, node, client, publisher)
        for _ in range(3):  # a frame sent before discovery completes is lost: send another
            if rig.ask(stamp=rig.frame(), resend_s=8.0).status == Status.OK:
                break
        rig.ask_good()
        yield rig
    finally:
        code = node.stop()
        graph.close()
    assert code == 0, node.log()[-3000:]
