"""An exception injected into each stage of a request: a clean failure response, then serving.

``ReferNode`` runs in this process (a private Context, a MultiThreadedExecutor thread), so each
stage can be monkeypatched to raise. Frames are fed straight into its FrameSync as serialized
messages and the camera pose into its own TF buffer: only the request crosses DDS, from a client
node in the same context.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rclpy
from rclpy.action.client import ActionClient
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.serialization import serialize_message
from roborefer_ros.action import Refer
from roborefer_ros.msg import ReferResult
from roborefer_ros.srv import RefPoint
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

import roborefer_ros.backends.recorded
import roborefer_ros.pipeline
import roborefer_ros.ros.refer.messages
import roborefer_ros.ros.refer.node
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.ros.conversions import depth_to_image, rgb_to_image, time_msg
from roborefer_ros.ros.refer.node import ReferNode
from test.ros.conftest import GOOD, SCENE, spinning, wait_future

pytestmark = pytest.mark.graph
CALL_TIMEOUT_S = 10.0


@dataclass
class InProcess:
    node: ReferNode
    client: Any
    actions: Any
    spinner: threading.Thread

    def feed_frame(self) -> int:
        """One synchronised frame of the static scene, stamped now, straight into FrameSync."""
        stamp = time.time_ns()
        rgb, depth_m = SCENE.render(0.0)
        header = Header(frame_id=SCENE.optical_frame, stamp=time_msg(stamp))
        info = _camera_info(header)
        sync = self.node._sync
        assert sync is not None
        sync.add_info(stamp, serialize_message(info))
        sync.add_depth(
            stamp, serialize_message(depth_to_image(encode_depth(depth_m), header, "16UC1"))
        )
        sync.add_color(stamp, serialize_message(rgb_to_image(rgb, header)))
        return stamp

    def ask(self, prompt: str = "the red box") -> Any:
        request = RefPoint.Request(prompt=prompt, min_stamp=time_msg(self.feed_frame()))
        return _wait(self.client.call_async(request))

    def goal(self, prompt: str = "the red box") -> Any:
        goal = Refer.Goal(prompt=prompt, min_stamp=time_msg(self.feed_frame()))
        handle = _wait(self.actions.send_goal_async(goal))
        assert handle.accepted
        return _wait(handle.get_result_async()).result

    def ask_good(self) -> None:
        response = self.ask()
        assert response.status == Status.OK, response.message
        assert response.success and len(response.points) == 1


def _camera_info(header: Header) -> CameraInfo:
    cam = SCENE.camera_model()
    info = CameraInfo(width=cam.width, height=cam.height, distortion_model=cam.distortion_model)
    info.header = header
    info.k = [float(x) for x in cam.k.ravel()]
    info.p = [float(x) for x in cam.p.ravel()]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    return info


def _wait(future: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
    return wait_future(future, timeout_s)


@pytest.fixture(scope="module")
def inproc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    answers = Path(tmp_path_factory.mktemp("inject")) / "answers.json"
    answers.write_text(json.dumps({"answers": [{"prompt": "the red box", "answer": GOOD}]}))
    context = Context()
    rclpy.init(context=context)
    overrides = [
        Parameter("backend", value="recorded"),
        Parameter("answers_file", value=str(answers)),
        Parameter("tf_implementation", value="own"),
        Parameter("frame_wait_timeout_s", value=2.0),
        Parameter("tf_timeout_s", value=0.5),
        Parameter("diagnostics_period_s", value=0.0),
    ]
    node = ReferNode(
        "inject_refer_node", namespace="/inject", context=context, parameter_overrides=overrides
    )
    client_node = Node("inject_client", context=context)
    with spinning(context, node, client_node) as spinner:
        assert node._active, "the node did not activate"
        node._tf.buffer.set_transform(
            StampedTransform(
                SCENE.base_frame, SCENE.optical_frame, 0, SCENE.T_base_from_optical(0.0)
            ),
            authority="test",
            is_static=True,
        )
        client: Any = client_node.create_client(RefPoint, "/inject/inject_refer_node/refer")
        assert client.wait_for_service(timeout_sec=10)
        actions: Any = ActionClient(client_node, Refer, "/inject/inject_refer_node/refer_action")
        assert actions.wait_for_server(timeout_sec=10)
        rig = InProcess(node, client, actions, spinner)
        rig.ask_good()
        yield rig


def _raise(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


def _fill_then_raise(msg: Any, outcome: Any) -> Any:
    """Filling the caller's response fails half-way (success and points already set); the
    latched ReferResult is filled normally."""
    real_fill_result(msg, outcome)
    if not isinstance(msg, ReferResult):
        raise RuntimeError("injected fault")
    return msg


real_fill_result = roborefer_ros.ros.refer.messages.fill_result


def _referrer(node: ReferNode) -> Any:
    assert node.referrer is not None
    return node.referrer


# stage -> how to inject it (a function of the node and monkeypatch)
Injector = Callable[[ReferNode, pytest.MonkeyPatch], None]
STAGES: dict[str, Injector] = {
    "request conversion (request_from_msg)": lambda n, mp: mp.setattr(
        roborefer_ros.ros.refer.node, "request_from_msg", _raise
    ),
    "frame provider (MiddlewareFrameSource.wait_select)": lambda n, mp: mp.setattr(
        n._camera, "wait_select", _raise
    ),
    "frame conversion (frame_from_serialized)": lambda n, mp: mp.setattr(
        roborefer_ros.ros.refer.node, "frame_from_serialized", _raise
    ),
    "backend.point": lambda n, mp: mp.setattr(_referrer(n).backend.inner, "point", _raise),
    "answer parsing (parse_points)": lambda n, mp: mp.setattr(
        roborefer_ros.backends.recorded, "parse_points", _raise
    ),
    "lifting (lift_pixel)": lambda n, mp: mp.setattr(roborefer_ros.pipeline, "lift_pixel", _raise),
    "TF lookup": lambda n, mp: mp.setattr(_referrer(n).transforms, "lookup", _raise),
    "result filling (fill_result)": lambda n, mp: mp.setattr(
        roborefer_ros.ros.refer.node, "fill_result", _raise
    ),
    "result filling half-way (fill_result)": lambda n, mp: mp.setattr(
        roborefer_ros.ros.refer.node, "fill_result", _fill_then_raise
    ),
    "point message (_point_msg)": lambda n, mp: mp.setattr(
        roborefer_ros.ros.refer.messages, "_point_msg", _raise
    ),
    "output (the latched last_result publisher)": lambda n, mp: mp.setattr(
        n, "_pub_result", _Raising()
    ),
}


class _Raising:
    """Stands in for a publisher whose every call raises."""

    def __getattr__(self, name: str) -> Any:
        return _raise


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("via", ["service", "action"])
def test_an_exception_in_a_stage_is_a_clean_internal_error(
    inproc: InProcess, stage: str, via: str
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        STAGES[stage](inproc.node, mp)
        answer = inproc.ask() if via == "service" else inproc.goal()
    assert answer.status == Status.INTERNAL_ERROR, (answer.status, answer.message)
    assert not answer.success
    assert not answer.points  # nothing half-filled comes back with a failure
    assert "RuntimeError: injected fault" in answer.message
    assert inproc.spinner.is_alive()
    inproc.ask_good()  # the next request succeeds
    assert inproc.node._gate is not None and inproc.node._gate.inside == 0  # no slot leaked


def test_a_failing_visual_output_leaves_the_answer_and_the_worker_alone(
    inproc: InProcess,
) -> None:
    """Markers and the annotated image are drawn on the output worker after the answer went
    out: when drawing raises, the request is still OK, the error is logged as a warning and the
    worker goes on with the next item."""
    worker = inproc.node._outputs
    assert worker is not None
    drawn = threading.Event()
    real_markers = roborefer_ros.ros.refer.node.outcome_markers

    def markers_once_more(outcome: Any) -> Any:
        drawn.set()
        return real_markers(outcome)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(roborefer_ros.ros.refer.node, "outcome_markers", _raise)
        inproc.ask_good()
        mp.setattr(roborefer_ros.ros.refer.node, "outcome_markers", markers_once_more)
        inproc.ask_good()
        assert drawn.wait(5.0), "the output worker stopped after the error"
    assert worker._thread.is_alive()


def _feed_at(inproc: InProcess, stamp: int) -> None:
    """One synchronised frame of the static scene stamped ``stamp``, straight into the ring."""
    rgb, depth_m = SCENE.render(0.0)
    header = Header(frame_id=SCENE.optical_frame, stamp=time_msg(stamp))
    sync = inproc.node._sync
    assert sync is not None
    sync.add_info(stamp, serialize_message(_camera_info(header)))
    sync.add_depth(stamp, serialize_message(depth_to_image(encode_depth(depth_m), header, "16UC1")))
    sync.add_color(stamp, serialize_message(rgb_to_image(rgb, header)))


def test_a_jump_back_in_time_during_a_request_serves_it_again_on_the_new_timeline(
    inproc: InProcess,
) -> None:
    """A looping bag or a reset simulation: while a latest-frame request waits for its
    transform, the camera's time jumps back and the TF listener forgets the old timeline. The
    request is served once more, on the new timeline's frame, instead of failing TF_ERROR."""
    referrer = _referrer(inproc.node)
    old = time.time_ns() + 5 * 1_000_000_000
    new = old - 5 * 1_000_000_000
    _feed_at(inproc, old)
    real_lookup = referrer.transforms.lookup
    asked: list[int] = []

    def jump_then_fail(target: str, source: str, stamp_ns: int, timeout_s: float) -> Any:
        asked.append(stamp_ns)
        if len(asked) == 1:
            _feed_at(inproc, new)  # the new timeline's first frame arrives
            raise RefPointError(Status.TF_ERROR, "extrapolation into the future (injected)")
        return real_lookup(target, source, stamp_ns, timeout_s)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(referrer.transforms, "lookup", jump_then_fail)
        response = _wait(inproc.client.call_async(RefPoint.Request(prompt="the red box")))
    assert response.status == Status.OK, response.message
    assert asked == [old, new]
    assert response.image_header.stamp == time_msg(new)
    inproc.ask_good()


def test_a_tf_error_without_a_jump_back_is_not_served_again(inproc: InProcess) -> None:
    referrer = _referrer(inproc.node)
    asked: list[int] = []

    def fail(target: str, source: str, stamp_ns: int, timeout_s: float) -> Any:
        asked.append(stamp_ns)
        raise RefPointError(Status.TF_ERROR, "extrapolation into the future (injected)")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(referrer.transforms, "lookup", fail)
        response = inproc.ask()
    assert response.status == Status.TF_ERROR
    assert len(asked) == 1
    inproc.ask_good()
