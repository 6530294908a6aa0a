"""An exception injected into each stage of a PickPlace goal: a clean INTERNAL_ERROR result
(the goal aborted, nothing half-filled), then the next goal succeeds.

``PickPlaceNode`` runs in this process (a private Context, a MultiThreadedExecutor thread) with a
backend that records the plan instead of moving. The good goal gives ready poses, so no refer
node is needed; the RefPoint stage is injected into the node's own ``_refer_point``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import rclpy
from action_msgs.msg import GoalStatus
from geometry_msgs.msg import PoseStamped
from rclpy.action.client import ActionClient
from rclpy.action.server import ServerGoalHandle
from rclpy.context import Context
from rclpy.node import Node
from roborefer_ros.action import PickPlace

import roborefer_ros.manipulation.pick_place
import roborefer_ros.ros.pick_place.node
from roborefer_ros.manipulation.errors import PickPlaceStatus
from roborefer_ros.ros.pick_place.node import PickPlaceNode
from test.manipulation.fakes import RecordingBackend
from test.ros.conftest import spinning, wait_future

pytestmark = pytest.mark.graph
TIMEOUT_S = 15.0


@dataclass
class InProcess:
    node: PickPlaceNode
    backend: RecordingBackend
    client: Any
    spinner: threading.Thread

    def send(self, **fields: Any) -> tuple[int, Any]:
        handle = _wait(self.client.send_goal_async(PickPlace.Goal(**fields)))
        assert handle.accepted
        wrapped = _wait(handle.get_result_async())
        return wrapped.status, wrapped.result

    def send_good(self) -> None:
        before = len(self.backend.plans)
        status, result = self.send(pick_pose=_pick_pose())
        assert result.status == PickPlaceStatus.OK, result.message
        assert status == GoalStatus.STATUS_SUCCEEDED and result.success
        assert len(self.backend.plans) == before + 1


def _pick_pose() -> PoseStamped:
    pose = PoseStamped()
    pose.header.frame_id = "base_link"
    pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = 0.5, 0.0, 0.05
    return pose


def _wait(future: Any, timeout_s: float = TIMEOUT_S) -> Any:
    return wait_future(future, timeout_s)


@pytest.fixture(scope="module")
def inproc() -> Iterator[InProcess]:
    context = Context()
    rclpy.init(context=context)
    backend = RecordingBackend()
    node = PickPlaceNode("inject_pick_place", namespace="/inject", backend=backend, context=context)
    client_node = Node("inject_pick_place_client", context=context)
    with spinning(context, node, client_node) as spinner:
        client: Any = ActionClient(client_node, PickPlace, "/inject/inject_pick_place/pick_place")
        assert client.wait_for_server(timeout_sec=10)
        rig = InProcess(node, backend, client, spinner)
        rig.send_good()
        yield rig


def _raise(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


PICK_PLACE = roborefer_ros.manipulation.pick_place
NODE_MODULE = roborefer_ros.ros.pick_place.node
# stage -> (how to inject it, the goal that reaches it)
Injector = Callable[[PickPlaceNode, pytest.MonkeyPatch], None]
STAGES: dict[str, tuple[Injector, dict[str, Any]]] = {
    "goal conversion (request_from_goal)": (
        lambda n, mp: mp.setattr(NODE_MODULE, "request_from_goal", _raise),
        {"pick_pose": _pick_pose()},
    ),
    "RefPoint call (_refer_point)": (
        lambda n, mp: mp.setattr(n, "_refer_point", _raise),
        {"pick_prompt": "the red box"},
    ),
    "target check (check_target)": (
        lambda n, mp: mp.setattr(PICK_PLACE, "check_target", _raise),
        {"pick_pose": _pick_pose()},
    ),
    "grasp planning (plan_pick_place)": (
        lambda n, mp: mp.setattr(PICK_PLACE, "plan_pick_place", _raise),
        {"pick_pose": _pick_pose()},
    ),
    "plan check (check_plan)": (
        lambda n, mp: mp.setattr(PICK_PLACE, "check_plan", _raise),
        {"pick_pose": _pick_pose()},
    ),
    "backend execution (execute)": (
        lambda n, mp: mp.setattr(n.backend, "execute", _raise),
        {"pick_pose": _pick_pose()},
    ),
    "feedback (publish_feedback)": (
        lambda n, mp: mp.setattr(ServerGoalHandle, "publish_feedback", _raise),
        {"pick_pose": _pick_pose()},
    ),
    "result filling (fill_result)": (
        lambda n, mp: mp.setattr(NODE_MODULE, "fill_result", _raise),
        {"pick_pose": _pick_pose()},
    ),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_an_exception_in_a_stage_is_a_clean_internal_error(inproc: InProcess, stage: str) -> None:
    inject, goal = STAGES[stage]
    with pytest.MonkeyPatch.context() as mp:
        inject(inproc.node, mp)
        status, result = inproc.send(**goal)
    assert status == GoalStatus.STATUS_ABORTED, status
    assert result.status == PickPlaceStatus.INTERNAL_ERROR, (result.status, result.message)
    assert not result.success
    assert result.message == "RuntimeError: injected fault"
    assert result.num_steps == 0 and result.failed_step == -1  # nothing half-filled
    assert inproc.spinner.is_alive()
    inproc.send_good()  # the next goal succeeds: the one-goal lock was released
