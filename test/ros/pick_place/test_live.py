"""PickPlace on a live graph: the real refer node (recorded answers, synthetic camera) and the
pick_place node in this process with a backend that records the plan instead of moving."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import rclpy
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped
from rclpy.action.client import ActionClient
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from roborefer_ros.action import PickPlace
from roborefer_ros.srv import RefPoint

from roborefer_ros.backends.parsers import format_roborefer_answer
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.manipulation.steps import Stage
from roborefer_ros.ros.graph import GraphClient, NodeProcess, ScenePublisher, refer_node_args
from roborefer_ros.ros.pick_place.node import PickPlaceNode
from roborefer_ros.sim.analytic_scene import SyntheticScene
from test.manipulation.fakes import RecordingBackend
from test.ros.conftest import start_refer_node

pytestmark = pytest.mark.graph

SCENE = SyntheticScene()  # static camera
RED_BOX = next(b for b in SCENE.boxes if b.name == "red box")
RED_TOP, RED_HEIGHT = RED_BOX.top_center, RED_BOX.size[2]
FREE = np.array([0.42, -0.12, 0.0])


def _answer(point: np.ndarray) -> str:
    u, v = SCENE.pixel_of(point, 0.0)
    return format_roborefer_answer([(u / SCENE.width, v / SCENE.height)])


ANSWERS = {
    "the red box": _answer(RED_TOP),
    "the free area left of the red box": _answer(FREE),
    "something unreadable": "I am not sure what you mean.",
}


@dataclass
class PickPlaceRig:
    graph: GraphClient
    backend: RecordingBackend
    client: Any  # the recording node's action client
    moveit_client: Any  # the node on the default (moveit) backend

    def send(self, client: Any = None, timeout_s: float = 30.0, **fields: Any):
        """(goal status, result, feedback list) of one goal."""
        feedback: list[Any] = []
        goal = PickPlace.Goal(**fields)
        future = (client or self.client).send_goal_async(
            goal, feedback_callback=lambda msg: feedback.append(msg.feedback)
        )
        handle = wait(future, timeout_s, "goal acceptance")
        assert handle.accepted
        wrapped = wait(handle.get_result_async(), timeout_s, "result")
        return wrapped.status, wrapped.result, feedback


def wait(future: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not future.done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s} s")
        time.sleep(0.005)
    return future.result()


def accepted(client: Any, goal: Any, feedback_callback: Any = None, timeout_s: float = 30.0) -> Any:
    """The goal handle of ``goal`` sent to a node process that has just started: sent again
    every 5 s while unanswered. ``wait_for_server`` sees the server's request reader, but on a
    loaded machine the server may not have matched our response reader yet and drops its
    answer (two suite runs: "no goal within 10 s"); a resend is a new goal, answered once the
    discovery has settled, and an unanswered first one ends with the node."""
    deadline = time.monotonic() + timeout_s
    while True:
        future = client.send_goal_async(goal, feedback_callback=feedback_callback)
        try:
            handle = wait(future, min(5.0, max(0.0, deadline - time.monotonic())), "goal")
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no goal acceptance within {timeout_s} s") from None
            continue
        assert handle.accepted
        return handle


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PickPlaceRig]:
    tmp = tmp_path_factory.mktemp("pick_place")
    answers = tmp / "answers.json"
    answers.write_text(
        json.dumps(
            {
                "format": "roborefer",
                "answers": [{"prompt": p, "answer": a, "delay_s": 0.0} for p, a in ANSWERS.items()],
            }
        )
    )
    domain_id = int(os.environ["ROS_DOMAIN_ID"])
    refer = start_refer_node(
        tmp,
        domain_id,
        {
            "backend": "recorded",
            "answers_file": str(answers),
            "qos_reliability": "reliable",
            "tf_implementation": "own",
            "max_frame_age_s": 2.0,
            "frame_wait_timeout_s": 5.0,
            # TF now and then arrives > 1 s late on a loaded test machine (images do not)
            "tf_timeout_s": 3.0,
        },
    )
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: refer.stop())  # whatever fails below, the process goes
        graph = GraphClient(f"pick_place_test_{os.getpid()}")
        stack.callback(graph.close)
        refer_client = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(refer_client, timeout_s=30)
        # Like the refer node's own tests: the camera (and its /tf_static) starts once the refer
        # node is up, so the static transform is not left to late-joiner delivery.
        publisher = ScenePublisher(graph, SCENE, rate_hz=10.0)
        time.sleep(0.5)
        publisher.start(duration_s=600.0)
        stack.callback(publisher.stop)
        _warm_up(graph, refer_client, refer.log)

        context = Context()
        rclpy.init(context=context)
        stack.callback(lambda: rclpy.try_shutdown(context=context))
        backend = RecordingBackend()
        node = PickPlaceNode("pick_place_node", backend=backend, context=context)
        stack.callback(node.destroy_node)
        moveit_node = PickPlaceNode("pick_place_moveit", context=context)  # default: moveit
        stack.callback(moveit_node.destroy_node)
        executor = MultiThreadedExecutor(num_threads=6, context=context)
        executor.add_node(node)
        executor.add_node(moveit_node)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        stack.callback(lambda: spin.join(timeout=5.0))
        stack.callback(lambda: executor.shutdown(timeout_sec=2.0))
        assert node._refer.wait_for_service(timeout_sec=20)  # this node's own discovery

        client = ActionClient(graph.node, PickPlace, "/pick_place_node/pick_place")
        moveit_client = ActionClient(graph.node, PickPlace, "/pick_place_moveit/pick_place")
        assert client.wait_for_server(timeout_sec=20)
        assert moveit_client.wait_for_server(timeout_sec=20)
        yield PickPlaceRig(graph, backend, client, moveit_client)
    assert refer.stop() == 0, refer.log()[-3000:]


def _warm_up(graph: GraphClient, client: Any, log: Any, timeout_s: float = 20.0) -> None:
    """Wait until the refer node answers from the live camera (frames, TF and model all ready),
    as the refer node's own fixtures do, so the first test does not measure start-up."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = graph.call(client, RefPoint.Request(prompt="the red box"), timeout_s=10)
        if response.success:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"refer node not ready: {response.message}\n{log()[-2000:]}")
        time.sleep(0.2)


def xyz(pose: PoseStamped) -> np.ndarray:
    p = pose.pose.position
    return np.array([p.x, p.y, p.z])


def step_xyz(plan: Any, label: str) -> np.ndarray:
    (step,) = [s for s in plan.steps if s.label == label]
    return np.asarray(step.tcp_pose.translation)


def test_pick_and_place_from_two_instructions(rig: PickPlaceRig) -> None:
    before = len(rig.backend.plans)
    rig.backend.step_delay_s = 0.02  # a burst of feedback can overrun its KEEP_LAST(10) history
    try:
        status, result, feedback = rig.send(
            pick_prompt="the red box", place_prompt="the free area left of the red box"
        )
    finally:
        rig.backend.step_delay_s = 0.0
    assert result.status == PickPlaceStatus.OK, result.message
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success
    assert len(rig.backend.plans) == before + 1
    plan = rig.backend.plans[-1]
    assert plan.frame == "base_link" and result.num_steps == len(plan.steps) == 8
    # 3D targets within 5 mm of the truth, in the plan frame, stamped with the image time
    assert result.pick_target.header.frame_id == "base_link"
    assert np.linalg.norm(xyz(result.pick_target) - RED_TOP) < 0.005
    assert np.linalg.norm(xyz(result.place_target) - FREE) < 0.005
    assert result.pick_target.header.stamp.sec > 0
    # plan poses: finger depth 0.03 m, approach/lift 0.10 m
    np.testing.assert_allclose(
        step_xyz(plan, "approach"), RED_TOP - np.array([0, 0, 0.03]), atol=0.005
    )
    np.testing.assert_allclose(
        step_xyz(plan, "pre-grasp"), RED_TOP + np.array([0, 0, 0.07]), atol=0.005
    )
    # the place height follows the box's height as perceived from the frame (0.10 m, not the
    # 0.08 m default): its grasp point 0.03 m below the top, released 0.015 m above the table
    place_z = RED_HEIGHT - 0.03 + 0.015
    np.testing.assert_allclose(
        step_xyz(plan, "place"), FREE + np.array([0, 0, place_z]), atol=0.005
    )
    np.testing.assert_allclose(
        step_xyz(plan, "retreat"), FREE + np.array([0, 0, place_z + 0.10]), atol=0.005
    )
    # Feedback travels on its own topic and may land just after the result.
    deadline = time.monotonic() + 5.0
    while len(feedback) < 3 + len(plan.steps) and time.monotonic() < deadline:
        time.sleep(0.01)
    stages = [Stage(f.stage) for f in feedback]
    assert stages[:3] == [Stage.REFER_PICK, Stage.REFER_PLACE, Stage.PLAN]
    assert [f.step_label for f in feedback[3:]] == [s.label for s in plan.steps]
    assert all(f.stage_name == Stage(f.stage).name for f in feedback)
    assert (
        len(result.stage_durations_s) == 8 and result.stage_durations_s[Stage.REFER_PICK.value] > 0
    )
    assert result.total_s >= sum(result.stage_durations_s) - 1e-6 and result.failed_step == -1


def test_pick_only_and_place_only(rig: PickPlaceRig) -> None:
    _, result, _ = rig.send(pick_prompt="the red box")
    assert result.status == PickPlaceStatus.OK, result.message
    assert [s.label for s in rig.backend.plans[-1].steps] == [
        "pre-grasp",
        "approach",
        "close",
        "lift",
    ]
    assert result.place_target.header.frame_id == ""
    _, result, _ = rig.send(place_prompt="the free area left of the red box")
    assert result.status == PickPlaceStatus.OK, result.message
    assert [s.label for s in rig.backend.plans[-1].steps] == [
        "pre-place",
        "place",
        "open",
        "retreat",
    ]
    assert result.pick_target.header.frame_id == ""


def test_ready_poses_are_used_instead_of_the_model(rig: PickPlaceRig) -> None:
    pick, place = PoseStamped(), PoseStamped()
    pick.header.frame_id = place.header.frame_id = "base_link"
    pick.pose.position.x, pick.pose.position.y, pick.pose.position.z = 0.6, -0.15, 0.08
    place.pose.position.x, place.pose.position.y = 0.5, 0.2
    _, result, _ = rig.send(pick_pose=pick, place_pose=place, object_size_m=_size(0.1, 0.06, 0.08))
    assert result.status == PickPlaceStatus.OK, result.message
    plan = rig.backend.plans[-1]
    np.testing.assert_allclose(step_xyz(plan, "approach"), (0.6, -0.15, 0.05), atol=1e-9)
    np.testing.assert_allclose(step_xyz(plan, "place"), (0.5, 0.2, 0.065), atol=1e-9)
    np.testing.assert_allclose(xyz(result.pick_target), (0.6, -0.15, 0.08), atol=1e-9)
    # y is the narrower side: fingers (TCP y) close along the plan's y
    (approach,) = [s for s in plan.steps if s.label == "approach"]
    assert abs(approach.tcp_pose.rotation_matrix()[1, 1]) == pytest.approx(1.0)


def test_a_known_object_yaw_turns_the_fingers_across_its_narrow_side(rig: PickPlaceRig) -> None:
    pick = PoseStamped()
    pick.header.frame_id = "base_link"
    pick.pose.position.x, pick.pose.position.y, pick.pose.position.z = 0.6, -0.15, 0.08
    yaw = 0.5
    # extents along the box's own axes: its y (0.06) is the narrow side, turned by the yaw
    _, result, _ = rig.send(
        pick_pose=pick,
        object_size_m=_size(0.1, 0.06, 0.08),
        object_yaw_known=True,
        object_yaw_rad=yaw,
    )
    assert result.status == PickPlaceStatus.OK, result.message
    (approach,) = [s for s in rig.backend.plans[-1].steps if s.label == "approach"]
    finger_axis = approach.tcp_pose.rotation_matrix()[:, 1]
    assert abs(float(np.dot(finger_axis, (-np.sin(yaw), np.cos(yaw), 0.0)))) == pytest.approx(1.0)

    before = len(rig.backend.plans)
    _, result, _ = rig.send(
        pick_pose=pick,
        object_size_m=_size(0.1, 0.06, 0.08),
        object_yaw_known=True,
        object_yaw_rad=float("nan"),
    )
    assert result.status == PickPlaceStatus.BAD_REQUEST and "object_yaw_rad" in result.message
    assert len(rig.backend.plans) == before


def _size(x: float, y: float, z: float) -> Any:
    from geometry_msgs.msg import Vector3

    return Vector3(x=x, y=y, z=z)


def test_refer_failure_propagates_status_and_message(rig: PickPlaceRig) -> None:
    before = len(rig.backend.plans)
    status, result, _ = rig.send(
        pick_prompt="something unreadable", place_prompt="the free area left of the red box"
    )
    assert status == GoalStatus.STATUS_ABORTED and not result.success
    assert result.status == PickPlaceStatus.PARSE_ERROR, result.message
    assert result.message.startswith("pick 'something unreadable': ")
    assert len(rig.backend.plans) == before


def test_target_outside_the_workspace_is_rejected(rig: PickPlaceRig) -> None:
    before = len(rig.backend.plans)
    far = PoseStamped()
    far.header.frame_id = "base_link"
    far.pose.position.x = 1.5
    _, result, _ = rig.send(pick_prompt="the red box", place_pose=far)
    assert result.status == PickPlaceStatus.REJECTED, result.message
    assert "place target (1.500, 0.000, 0.000) is outside the workspace" in result.message
    assert len(rig.backend.plans) == before
    assert np.linalg.norm(xyz(result.pick_target) - RED_TOP) < 0.005  # resolved, not moved


def test_cancel_mid_way_stops_between_steps_and_a_second_goal_is_busy(rig: PickPlaceRig) -> None:
    rig.backend.step_delay_s = 0.3
    rig.backend.started.clear()
    executed_before = len(rig.backend.executed)
    try:
        future = rig.client.send_goal_async(PickPlace.Goal(pick_prompt="the red box"))
        handle = wait(future, 20, "goal acceptance")
        assert rig.backend.started.wait(20), "execution never started"
        _, busy, _ = rig.send(pick_prompt="the red box")  # one goal at a time
        assert busy.status == PickPlaceStatus.BUSY, busy.message
        wait(handle.cancel_goal_async(), 10, "cancel response")
        wrapped = wait(handle.get_result_async(), 20, "result")
    finally:
        rig.backend.step_delay_s = 0.0
    assert wrapped.status == GoalStatus.STATUS_CANCELED
    assert wrapped.result.status == PickPlaceStatus.CANCELED, wrapped.result.message
    assert 0 < len(rig.backend.executed) - executed_before < 4


def test_moveit_is_unavailable_here_but_dry_runs_plan(rig: PickPlaceRig) -> None:
    _, result, _ = rig.send(rig.moveit_client, pick_prompt="the red box")
    assert result.status == PickPlaceStatus.UNAVAILABLE
    assert result.message == (  # moveit_msgs is installed (make setup's stand-in), move_group not
        "manipulation backend 'moveit': unavailable: action /move_action not served "
        "(is move_group running?)"
    )
    _, result, _ = rig.send(rig.moveit_client, pick_prompt="the red box", dry_run=True)
    assert result.status == PickPlaceStatus.OK and result.num_steps == 4, result.message


def test_the_node_process_serves_a_dry_run_and_exits_cleanly(tmp_path, graph: GraphClient) -> None:
    """main() as `ros2 run` starts it: parameters from the command line, SIGINT ends it with 0."""
    node = NodeProcess(
        "roborefer_ros.tools.pick_place_node",
        refer_node_args(
            "pick_place_cli",
            {"manipulation_backend": "none", "workspace_max_xyz": "[0.9, 0.6, 0.5]"},
        ),
        int(os.environ["ROS_DOMAIN_ID"]),
        tmp_path / "pick_place_cli.log",
    )
    try:
        client = ActionClient(graph.node, PickPlace, "/pick_place_cli/pick_place")
        assert client.wait_for_server(timeout_sec=20), node.log()
        pick = PoseStamped()
        pick.header.frame_id = "base_link"
        pick.pose.position.x, pick.pose.position.z = 0.5, 0.05
        handle = accepted(client, PickPlace.Goal(pick_pose=pick, dry_run=True))
        result = wait(handle.get_result_async(), 10, "result").result
        assert result.status == PickPlaceStatus.OK and result.num_steps == 4, result.message
        pick.pose.position.z = 0.45  # pre-grasp 0.10 above leaves the configured box
        handle = accepted(client, PickPlace.Goal(pick_pose=pick, dry_run=True))
        result = wait(handle.get_result_async(), 10, "result").result
        assert result.status == PickPlaceStatus.REJECTED and "step 0 (pre-grasp)" in result.message
    finally:
        code = node.stop()
    assert code == 0, node.log()


def _node_without_a_refer_service(tmp_path: Any, name: str) -> NodeProcess:
    """pick_place_node as a process whose goals wait up to 30 s for a refer service that is not
    there: a goal stays in flight until it is cancelled or the node stops."""
    return NodeProcess(
        "roborefer_ros.tools.pick_place_node",
        refer_node_args(
            name,
            {
                "manipulation_backend": "none",
                "refer_service": "/no_such_refer_node/refer",
                "refer_wait_s": 30.0,
            },
        ),
        int(os.environ["ROS_DOMAIN_ID"]),
        tmp_path / f"{name}.log",
    )


def test_sigint_during_a_goal_answers_it_canceled_and_exits_cleanly(
    tmp_path, graph: GraphClient
) -> None:
    """A goal waits for a refer service that is not there (30 s allowed); SIGINT ends it with
    CANCELED "node shutting down" (ABORTED: nobody asked to cancel), the process exits 0 at once
    and logs no traceback. Before, rclpy's own handler tore the context down: no answer."""
    node = _node_without_a_refer_service(tmp_path, "pick_place_stop")
    try:
        client = ActionClient(graph.node, PickPlace, "/pick_place_stop/pick_place")
        assert client.wait_for_server(timeout_sec=20), node.log()
        stages: list[Any] = []
        handle = accepted(
            client,
            PickPlace.Goal(pick_prompt="the red box", dry_run=True),
            lambda msg: stages.append(msg.feedback.stage),
        )
        result_future = handle.get_result_async()
        deadline = time.monotonic() + 10
        while Stage.REFER_PICK.value not in stages:
            assert time.monotonic() < deadline, "the goal never reached its refer stage"
            time.sleep(0.02)
        time.sleep(0.3)  # waiting for the service now
        stopped_at = time.monotonic()
        node.proc.send_signal(signal.SIGINT)
        code = node.proc.wait(timeout=15)
        exit_s = time.monotonic() - stopped_at
        wrapped = wait(result_future, 5, "result")
    finally:
        node.stop()
    log = node.log()
    assert code == 0, log[-3000:]
    assert exit_s < 5.0, exit_s
    assert "Traceback" not in log, log[-3000:]
    assert wrapped.status == GoalStatus.STATUS_ABORTED, wrapped.status
    assert wrapped.result.status == PickPlaceStatus.CANCELED, wrapped.result.message
    assert wrapped.result.message.startswith("node shutting down"), wrapped.result.message


def test_a_cancel_is_honoured_while_the_refer_service_is_awaited(
    tmp_path, graph: GraphClient
) -> None:
    node = _node_without_a_refer_service(tmp_path, "pick_place_wait")
    try:
        client = ActionClient(graph.node, PickPlace, "/pick_place_wait/pick_place")
        assert client.wait_for_server(timeout_sec=20), node.log()
        handle = accepted(client, PickPlace.Goal(pick_prompt="the red box", dry_run=True))
        time.sleep(0.5)
        asked = time.monotonic()
        wait(handle.cancel_goal_async(), 5, "cancel")
        wrapped = wait(handle.get_result_async(), 5, "result")
        assert time.monotonic() - asked < 2.0
        assert wrapped.status == GoalStatus.STATUS_CANCELED, wrapped.status
        assert wrapped.result.status == PickPlaceStatus.CANCELED
        assert "cancelled while waiting for /no_such_refer_node/refer" in wrapped.result.message
    finally:
        code = node.stop()
    assert code == 0, node.log()
