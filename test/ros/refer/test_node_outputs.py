"""What a request leaves on the graph: Refer action, last result, markers, image, diagnostics."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from roborefer_ros.action import Refer
from roborefer_ros.msg import ReferResult
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from roborefer_ros.core.result import Stage
from roborefer_ros.core.status import Status
from roborefer_ros.ros.conversions import image_to_rgb, stamp_ns, time_msg
from test.ros.conftest import RED, Rig, U, V

pytestmark = pytest.mark.graph


class Inbox:
    """Collects messages of one topic on the rig's client node."""

    def __init__(self, rig: Rig, msg_type: Any, topic: str, qos: QoSProfile | int = 10) -> None:
        self.messages: list[Any] = []
        self._event = threading.Event()
        self._sub = rig.graph.node.create_subscription(msg_type, topic, self._on, qos)

    def _on(self, msg: Any) -> None:
        self.messages.append(msg)
        self._event.set()

    def wait(self, predicate: Any = lambda m: True, timeout_s: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in self.messages:
                if predicate(msg):
                    return msg
            self._event.wait(0.05)
            self._event.clear()
        raise TimeoutError(f"no matching message within {timeout_s} s ({len(self.messages)} seen)")


def test_success_publishes_markers_annotated_image_and_latched_result(rig: Rig) -> None:
    markers = Inbox(rig, MarkerArray, "/refer_node/markers")
    images = Inbox(rig, Image, "/refer_node/annotated_image", 2)
    time.sleep(0.5)  # let the subscriptions match
    stamp = rig.frame()
    response = rig.ask(stamp=stamp)
    assert response.status == Status.OK

    # the sphere stamped with this request's frame (in a loaded full run a marker array of a
    # frame 100 ms newer reached this inbox first; the latched result below proves which frame
    # this request used)
    array = markers.wait(
        lambda m: any(
            k.type == Marker.SPHERE and stamp_ns(k.header.stamp) == stamp for k in m.markers
        )
    )
    sphere = next(k for k in array.markers if k.type == Marker.SPHERE)
    assert sphere.header.frame_id == "base_link"
    target = np.array([sphere.pose.position.x, sphere.pose.position.y, sphere.pose.position.z])
    assert np.linalg.norm(target - RED.top_center) < 0.005
    assert array.markers[0].action == Marker.DELETEALL

    image = images.wait(lambda m: stamp_ns(m.header.stamp) == stamp)
    assert image.header.frame_id == rig.publisher.scene.optical_frame  # source header kept
    drawn = image_to_rgb(image)
    original, _ = rig.publisher.scene.render(rig.publisher.published[stamp])
    assert tuple(drawn[round(V), round(U)]) == (255, 60, 60)  # the marker's core on the point
    ring = drawn[round(V) - 15 : round(V) + 16, round(U) - 15 : round(U) + 16]
    assert (ring == 255).all(axis=2).sum() > 40 and (ring == 0).all(axis=2).sum() > 40  # outlined
    changed = (drawn != original).any(axis=2)
    assert changed[: round(V) - 30].any()  # the banner (prompt, mode, status) at the top
    # the label beside the point: index, mode, status and the 3D target (drawn as text)
    beside = changed[round(V) - 20 : round(V) + 20]
    assert beside[:, round(U) + 20 :].sum() + beside[:, : round(U) - 20].sum() > 500

    latched = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    late_joiner = Inbox(rig, ReferResult, "/refer_node/last_result", latched)
    result = late_joiner.wait()  # published before we subscribed: latched
    assert result.prompt == "the red box"
    assert result.status == Status.OK and result.success
    assert stamp_ns(result.image_header.stamp) == stamp
    assert result.backend == "recorded"
    assert len(result.points) == 1


def test_failures_are_published_as_last_result_too(rig: Rig) -> None:
    results = Inbox(
        rig,
        ReferResult,
        "/refer_node/last_result",
        QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        ),
    )
    time.sleep(0.3)
    rig.ask("something unreadable", stamp=rig.frame())
    failed = results.wait(lambda m: m.prompt == "something unreadable")
    assert failed.status == Status.PARSE_ERROR and not failed.success
    assert "not sure" in failed.raw_answer


def _action_client(rig: Rig) -> ActionClient:
    client = ActionClient(rig.graph.node, Refer, "/refer_node/refer_action")
    assert client.wait_for_server(timeout_sec=10)
    return client


def _wait(future: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not future.done():
        assert time.monotonic() < deadline, "action future timed out"
        time.sleep(0.01)
    return future.result()


def test_refer_action_reports_stages_and_succeeds(rig: Rig) -> None:
    client = _action_client(rig)
    feedback: list[Any] = []
    goal = Refer.Goal(prompt="the red box, slowly", min_stamp=time_msg(rig.frame()))
    handle = _wait(
        client.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
    )
    assert handle.accepted
    wrapped = _wait(handle.get_result_async())
    result = wrapped.result
    assert result.status == Status.OK and result.success, result.message
    assert len(result.points) == 1
    target = np.array(
        [
            result.points[0].point.point.x,
            result.points[0].point.point.y,
            result.points[0].point.point.z,
        ]
    )
    assert np.linalg.norm(target - RED.top_center) < 0.005
    stages = [f.stage for f in feedback]
    assert stages == sorted(stages) and Stage.MODEL in stages and Stage.TF in stages
    assert {f.stage_name for f in feedback} <= {s.name for s in Stage}


def test_refer_action_can_be_cancelled_and_node_keeps_serving(rig: Rig) -> None:
    client = _action_client(rig)
    goal = Refer.Goal(prompt="the red box, slowly", min_stamp=time_msg(rig.frame()))
    handle = _wait(client.send_goal_async(goal))
    time.sleep(0.2)  # inside the 0.6 s model call
    _wait(handle.cancel_goal_async())
    wrapped = _wait(handle.get_result_async())
    assert wrapped.result.status == Status.CANCELED, wrapped.result.message
    assert "cancel" in wrapped.result.message
    rig.ask_good()


def test_diagnostics_report_the_camera_input(rig: Rig) -> None:
    diagnostics = Inbox(rig, DiagnosticArray, "/diagnostics")
    rig.frame()
    array = diagnostics.wait(lambda m: any("refer_node" in s.name for s in m.status), timeout_s=5)
    status = next(s for s in array.status if "refer_node" in s.name)
    keys = {kv.key: kv.value for kv in status.values}
    assert keys == {"frames": "OK", "encodings": "OK", "geometry": "OK", "tf": "OK"}, status.message


def test_live_parameter_change_applies_to_the_next_request(rig: Rig) -> None:
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient

    params = AsyncParameterClient(rig.graph.node, "/refer_node")
    assert params.wait_for_services(timeout_sec=10)

    def set_param(name: str, value: object) -> Any:
        return _wait(params.set_parameters([Parameter(name, value=value)])).results[0]

    try:
        assert set_param("target_frame", "camera_link").successful
        response = rig.ask(stamp=rig.frame())
        assert response.status == Status.OK, response.message
        assert response.points[0].point.header.frame_id == "camera_link"
        refused = set_param("depth_window_px", 8)  # must be odd
        assert not refused.successful and "depth_window_px" in refused.reason
        refused = set_param("backend", "other")  # read-only: fixed at configure time
        assert not refused.successful
    finally:
        assert set_param("target_frame", "base_link").successful
    rig.ask_good()
