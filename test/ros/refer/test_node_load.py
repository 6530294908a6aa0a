"""Load on a live graph: 100 simultaneous RefPoint calls and a batch of Refer goals, one node.

Each prompt "target i" has its own recorded answer, a distinct table pixel, so its own 3D point:
every call must come back (an answer or a clear BUSY) within its deadline, and every OK answer
must carry its own request's raw answer and point, never another's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from rclpy.action.client import ActionClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from roborefer_ros.action import Refer
from roborefer_ros.srv import RefPoint

from roborefer_ros.backends.parsers import format_roborefer_answer
from roborefer_ros.core.status import Status
from roborefer_ros.ros.conversions import time_msg
from roborefer_ros.ros.graph import GraphClient, NodeProcess, ScenePublisher
from test.ros.conftest import SCENE, start_refer_node

pytestmark = pytest.mark.graph

N_CALLS = 100
N_GOALS = 40
MAX_PENDING = 16
DEADLINE_S = 20.0  # per call; the whole burst finishes in a few seconds
TOLERANCE_M = 0.015  # lifting error on the flat table; targets are >= 0.045 m apart


DEEP = QoSProfile(depth=2 * N_CALLS, reliability=ReliabilityPolicy.RELIABLE)


@dataclass(frozen=True)
class Target:
    prompt: str
    answer: str
    point: npt.NDArray[np.float64]


def table_targets(n: int) -> list[Target]:
    """``n`` table points on a grid, each seen unoccluded (no box within the depth window)."""
    _rgb, depth = SCENE.render(0.0)
    T_optical_from_base = SCENE.T_base_from_optical(0.0).inverse()
    targets: list[Target] = []
    for x in np.arange(0.30, 0.80, 0.045):
        for y in np.arange(-0.30, 0.301, 0.05):
            point = np.array([x, y, 0.0])
            u, v = SCENE.pixel_of(point, 0.0)
            if not (10 <= u < SCENE.width - 10 and 10 <= v < SCENE.height - 10):
                continue
            z = T_optical_from_base.apply(point)[2]
            ui, vi = round(u), round(v)
            if np.all(np.abs(depth[vi - 6 : vi + 7, ui - 6 : ui + 7] - z) < 0.02):
                answer = format_roborefer_answer([(u / SCENE.width, v / SCENE.height)])
                targets.append(Target(f"target {len(targets)}", answer, point))
    assert len(targets) >= n, len(targets)
    return targets[:n]


TARGETS = table_targets(N_CALLS)
BY_PROMPT = {t.prompt: t for t in TARGETS}


@dataclass
class LoadRig:
    graph: GraphClient
    node: NodeProcess
    client: Any
    actions: Any
    stamp: int


@pytest.fixture(scope="module")
def load_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadRig]:
    tmp = tmp_path_factory.mktemp("load")
    answers = tmp / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "format": "roborefer",
                "answers": [
                    {"prompt": t.prompt, "answer": t.answer, "delay_s": 0.03} for t in TARGETS
                ],
            }
        )
    )
    graph = GraphClient(f"load_client_{os.getpid()}")
    node = start_refer_node(
        tmp,
        int(os.environ["ROS_DOMAIN_ID"]),
        {
            "backend": "recorded",
            "answers_file": str(answers),
            "qos_reliability": "reliable",
            "tf_implementation": "own",
            "frame_wait_timeout_s": 5.0,  # FastDDS may take ~3 s to repair a lost big sample
            "tf_timeout_s": 4.0,
            "model_timeout_s": 10.0,  # 16 admitted x 0.03 s, one model call at a time
            "max_pending_requests": MAX_PENDING,
            "frame_ring_size": 16,
        },
        name="load_node",
    )
    try:
        # The test side must not lose requests either: a deep queue for the whole burst.
        client: Any = graph.node.create_client(RefPoint, "/load_node/refer", qos_profile=DEEP)
        graph.wait_for_service(client)
        actions: Any = ActionClient(
            graph.node,
            Refer,
            "/load_node/refer_action",
            goal_service_qos_profile=DEEP,
            result_service_qos_profile=DEEP,
            cancel_service_qos_profile=DEEP,
        )
        assert actions.wait_for_server(timeout_sec=20)
        publisher = ScenePublisher(graph, SCENE, t0_ns=time.time_ns())
        time.sleep(0.5)  # let the camera topics match before the one frame
        for attempt in range(3):  # a topic matched late loses the first frame: send another
            stamp = publisher.publish_at(0.1 * attempt)  # static scene: same image, new stamp
            request = RefPoint.Request(prompt="target 0", min_stamp=time_msg(stamp))
            first = graph.call(client, request, timeout_s=15)
            if first.status != Status.NO_FRAME:
                break
        assert first.status == Status.OK, (first.message, node.log()[-2000:])
        yield LoadRig(graph, node, client, actions, stamp)
    finally:
        code = node.stop()
        graph.close()
    assert code == 0, node.log()[-3000:]


def _wait_all(futures: list[Any], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(f.done() for f in futures):
        pending = sum(not f.done() for f in futures)
        assert time.monotonic() < deadline, f"{pending} of {len(futures)} lost (no answer)"
        time.sleep(0.01)


def check_answer(prompt: str, answer: Any) -> Status:
    """OK answers carry their own request's model answer and point; failures are only BUSY."""
    status = Status(answer.status)
    if status == Status.BUSY:
        assert not answer.success and not answer.points
        assert f"max_pending_requests={MAX_PENDING}" in answer.message, answer.message
        return status
    assert status == Status.OK, (prompt, status.name, answer.message)
    target = BY_PROMPT[prompt]
    assert answer.raw_answer == target.answer, (prompt, answer.raw_answer, target.answer)
    assert len(answer.points) == 1
    p = answer.points[0].point.point
    got = np.array([p.x, p.y, p.z])
    errors = {t.prompt: float(np.linalg.norm(got - t.point)) for t in TARGETS}
    assert errors[prompt] < TOLERANCE_M, (prompt, got, target.point)
    assert min(errors, key=errors.__getitem__) == prompt  # nearest to its own target
    return status


def test_simultaneous_refpoint_calls_each_get_their_own_answer_or_busy(load_rig: LoadRig) -> None:
    requests = [
        RefPoint.Request(prompt=t.prompt, min_stamp=time_msg(load_rig.stamp)) for t in TARGETS
    ]
    started = time.monotonic()
    futures = [load_rig.client.call_async(r) for r in requests]
    _wait_all(futures, DEADLINE_S)
    elapsed_s = time.monotonic() - started
    statuses = [check_answer(r.prompt, f.result()) for r, f in zip(requests, futures, strict=True)]
    assert len(statuses) == N_CALLS
    n_ok, n_busy = statuses.count(Status.OK), statuses.count(Status.BUSY)
    assert n_ok + n_busy == N_CALLS
    assert n_busy >= 1, "the burst never filled max_pending_requests"
    # a BUSY means MAX_PENDING requests were inside at that moment, and each of them ended OK
    assert n_ok >= MAX_PENDING, (n_ok, n_busy)
    assert elapsed_s < DEADLINE_S
    # the node still answers every target once the burst is over
    for t in TARGETS[:5]:
        request = RefPoint.Request(prompt=t.prompt, min_stamp=time_msg(load_rig.stamp))
        assert check_answer(t.prompt, load_rig.graph.call(load_rig.client, request)) == Status.OK


def test_simultaneous_refer_goals_each_get_their_own_result_or_busy(load_rig: LoadRig) -> None:
    targets = TARGETS[-N_GOALS:]
    goals = [Refer.Goal(prompt=t.prompt, min_stamp=time_msg(load_rig.stamp)) for t in targets]
    sent = [load_rig.actions.send_goal_async(g) for g in goals]
    _wait_all(sent, DEADLINE_S)
    handles = [f.result() for f in sent]
    assert all(h.accepted for h in handles)
    results = [h.get_result_async() for h in handles]
    _wait_all(results, DEADLINE_S)
    statuses = [
        check_answer(g.prompt, f.result().result) for g, f in zip(goals, results, strict=True)
    ]
    assert len(statuses) == N_GOALS
    assert statuses.count(Status.OK) >= 1, statuses
