"""Faults of whole processes on a live graph: the model server killed in the middle of a request,
and the refer node itself stopped (SIGINT) while a RefPoint call and a Refer goal are in flight.

Each test runs its own refer node process (the module rig of ``test_refer_node_faults.py`` must
outlive its tests) on the synthetic static camera.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from action_msgs.msg import GoalStatus
from rclpy.action.client import ActionClient
from roborefer_ros.action import Refer
from roborefer_ros.srv import RefPoint

from roborefer_ros.core.status import Status
from roborefer_ros.ros.conversions import time_msg
from roborefer_ros.ros.graph import GraphClient, NodeProcess, ScenePublisher
from roborefer_ros.tools.fake_model_server import FakeModelServer
from roborefer_ros.tools.fastdds_shm import SHM, held_shm_paths
from roborefer_ros.tools.refer_node import DRAIN_S
from test.ros.conftest import GOOD, SCENE, Rig, start_refer_node

pytestmark = pytest.mark.graph

SLOW = "the red box, slowly"
# The camera, TF and request waits outlast a FastDDS repair (~3 s) on a loaded machine.
CAMERA_PARAMS: dict[str, object] = {
    "qos_reliability": "reliable",
    "tf_implementation": "own",
    "frame_wait_timeout_s": 5.0,
    "tf_timeout_s": 4.0,
}


def _start_rig(graph: GraphClient, node: NodeProcess, name: str) -> Rig:
    """A camera for ``node`` and a first good answer (a frame sent before discovery is lost)."""
    client: Any = graph.node.create_client(RefPoint, f"/{name}/refer")
    graph.wait_for_service(client)
    publisher = ScenePublisher(graph, SCENE, t0_ns=time.time_ns())
    time.sleep(0.5)
    rig = Rig(graph, node, client, publisher)
    for _ in range(3):  # resent after 8 s: the frame wait is 5 s
        if rig.ask(stamp=rig.frame(), resend_s=8.0).status == Status.OK:
            break
    rig.ask_good()
    return rig


def _wait(future: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while not future.done():
        assert time.monotonic() < deadline, f"no answer within {timeout_s} s"
        time.sleep(0.005)
    return future.result()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeModelServer]:
    answers = {"the red box": {"answer": GOOD}, SLOW: {"answer": GOOD, "delay_s": 30.0}}
    fake = FakeModelServer("roborefer", answers, tmp_path, lifetime_s=120.0)
    with fake.start():
        yield fake


def test_model_server_killed_mid_request_then_restarted(
    tmp_path: Path, domain_id: int, graph: GraphClient, server: FakeModelServer
) -> None:
    """SIGKILL of the server while the node waits on its answer: BACKEND_ERROR naming the URL
    at once (the dropped connection is retried once, and that retry is refused); while it is
    down, requests fail the same way; restarted on the same port, the next request succeeds."""
    name = "killed_backend_node"
    params = {
        **CAMERA_PARAMS,
        "backend": "roborefer_http",
        "server_url": server.url,
        "model_timeout_s": 20.0,
    }
    node = start_refer_node(tmp_path, domain_id, params, name=name)
    try:
        rig = _start_rig(graph, node, name)
        request = RefPoint.Request(prompt=SLOW, min_stamp=time_msg(rig.frame()))
        future = rig.client.call_async(request)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 15.0
        while not any(SLOW in str(r.get("body")) for r in server.requests()):
            assert time.monotonic() < deadline, "the node never asked the model server"
            time.sleep(0.02)
        killed_at = time.monotonic()
        server.kill()
        response = _wait(future, 15.0)
        answered_s = time.monotonic() - killed_at
        assert response.status == Status.BACKEND_ERROR, (response.status, response.message)
        assert not response.success and not response.points
        assert server.url in response.message, response.message
        assert "refused" in response.message or "closed the connection" in response.message
        assert answered_s < 5.0, answered_s  # not the 20 s model deadline

        down = rig.ask(stamp=rig.frame())
        assert down.status == Status.BACKEND_ERROR, down.message
        assert server.url in down.message and "refused" in down.message

        port = server.port
        server.start()
        assert server.port == port
        rig.ask_good()
        assert node.alive()
    finally:
        code = node.stop()
    assert code == 0, node.log()[-3000:]
    assert "Traceback" not in node.log()


def test_model_server_down_at_start_is_retried_until_it_comes(
    tmp_path: Path, domain_id: int, graph: GraphClient, server: FakeModelServer
) -> None:
    """The model server is down when the node starts: the node comes up anyway, answers every
    request BACKEND_ERROR "model not loaded: <cause>" (the refused URL), reports the cause on
    /diagnostics, and activates by itself once the server is up. It used to stay inactive for
    ever, answering "activate the lifecycle node"."""
    from diagnostic_msgs.msg import DiagnosticArray

    name = "late_model_node"
    url, port = server.url, server.port
    server.kill()
    params = {
        **CAMERA_PARAMS,
        "backend": "roborefer_http",
        "server_url": url,
        "model_timeout_s": 10.0,
        "diagnostics_period_s": 0.5,
    }
    diagnostics: list[Any] = []
    graph.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    node = start_refer_node(tmp_path, domain_id, params, name=name)
    try:
        client: Any = graph.node.create_client(RefPoint, f"/{name}/refer")
        graph.wait_for_service(client)
        request = RefPoint.Request(prompt="the red box")
        down = graph.call(client, request, timeout_s=30, resend_s=4)
        assert down.status == Status.BACKEND_ERROR, (down.status, down.message)
        assert down.message.startswith("model not loaded: "), down.message
        assert url in down.message and "refused" in down.message, down.message

        deadline = time.monotonic() + 10.0
        model = None
        while model is None:
            assert time.monotonic() < deadline, "no model status on /diagnostics"
            statuses = [s for array in list(diagnostics) for s in array.status]
            model = next((s for s in statuses if s.name.endswith(f"{name}: model")), None)
            time.sleep(0.1)
        assert model.level == bytes([2]) and "refused" in model.message, model.message
        assert node.alive()

        server.start()
        assert server.port == port
        publisher = ScenePublisher(graph, SCENE, t0_ns=time.time_ns())
        time.sleep(0.5)
        rig = Rig(graph, node, client, publisher)
        deadline = time.monotonic() + 40.0  # back-off 1, 2, 4, 8 ... s: the next try comes
        response = rig.ask(stamp=rig.frame())
        while response.status != Status.OK and time.monotonic() < deadline:
            time.sleep(0.3)
            response = rig.ask(stamp=rig.frame())
        assert response.status == Status.OK, (response.message, node.log()[-3000:])
        assert "activating" in node.log()
    finally:
        code = node.stop()
    assert code == 0, node.log()[-3000:]
    assert "Traceback" not in node.log()


def _fastdds_files_of(pid: int) -> set[str]:
    """The /dev/shm FastDDS files process ``pid`` has open or mapped."""
    found: set[str] = set()
    proc = Path(f"/proc/{pid}")
    for fd in (proc / "fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(f"{SHM}/") and "fastdds" in target:
            found.add(target)
    for line in (proc / "maps").read_text().splitlines():
        if f"{SHM}/" in line and "fastdds" in line:
            found.add(line[line.index(f"{SHM}/") :].split(" (deleted)")[0])
    return found


def _leftover_shm(files: set[str]) -> list[str]:
    """Those of ``files`` that still exist and no live process holds."""
    held = held_shm_paths()
    return sorted(f for f in files if os.path.exists(f) and f not in held)


def test_node_shutdown_during_a_call_and_a_goal(
    tmp_path: Path, domain_id: int, graph: GraphClient, server: FakeModelServer
) -> None:
    """SIGINT while a RefPoint call and a Refer goal wait on a 30 s model answer: the node ends
    both with CANCELED "node shutting down" (the goal ABORTED), exits 0 within a few seconds,
    logs no traceback or error, and leaves none of its FastDDS shared-memory files behind."""
    name = "stopped_node"
    params = {
        **CAMERA_PARAMS,
        "backend": "roborefer_http",
        "server_url": server.url,
        "model_timeout_s": 60.0,
        "max_concurrent_model_calls": 2,  # both requests reach the server
    }
    node = start_refer_node(tmp_path, domain_id, params, name=name)
    try:
        rig = _start_rig(graph, node, name)
        actions: Any = ActionClient(graph.node, Refer, f"/{name}/refer_action")
        assert actions.wait_for_server(timeout_sec=10)
        stamp = rig.frame()
        call = rig.client.call_async(  # type: ignore[attr-defined]
            RefPoint.Request(prompt=SLOW, min_stamp=time_msg(stamp))
        )
        handle = _wait(
            actions.send_goal_async(Refer.Goal(prompt=SLOW, min_stamp=time_msg(stamp))), 15.0
        )
        assert handle.accepted
        result = handle.get_result_async()
        deadline = time.monotonic() + 15.0
        while sum(SLOW in str(r.get("body")) for r in server.requests()) < 2:
            assert time.monotonic() < deadline, "the requests never reached the model server"
            time.sleep(0.02)
        shm_files = _fastdds_files_of(node.proc.pid)
        assert shm_files, "FastDDS shared memory is not in use: the check below means nothing"

        stopped_at = time.monotonic()
        node.proc.send_signal(signal.SIGINT)
        code = node.proc.wait(timeout=DRAIN_S + 12.0)
        exit_s = time.monotonic() - stopped_at

        response = _wait(call, 5.0)
        goal = _wait(result, 5.0)
    finally:
        node.stop()
    log = node.log()
    assert code == 0, log[-3000:]
    assert exit_s < DRAIN_S + 3.0, exit_s
    assert "Traceback" not in log and "[ERROR]" not in log, log[-3000:]
    assert response.status == Status.CANCELED, (response.status, response.message)
    assert not response.success and not response.points
    assert "node shutting down" in response.message, response.message
    assert goal.status == GoalStatus.STATUS_ABORTED, goal.status
    assert goal.result.status == Status.CANCELED, goal.result.message
    assert "node shutting down" in goal.result.message
    assert not _leftover_shm(shm_files), _leftover_shm(shm_files)
