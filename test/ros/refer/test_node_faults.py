"""Every status RefPoint can return, provoked on a live graph; the node keeps serving after each."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from roborefer_ros.srv import RefPoint
from tf2_msgs.msg import TFMessage

from roborefer_ros.core.status import Status
from roborefer_ros.core.tf_buffer import StampedTransform
from roborefer_ros.core.transforms import Transform
from roborefer_ros.ros.conversions import transform_to_msg
from roborefer_ros.ros.graph import GraphClient, NodeProcess
from test.ros.conftest import GOOD, HOLE, SCENE, Rig

pytestmark = pytest.mark.graph


def expect(rig: Rig, response: RefPoint.Response, status: Status, *words: str) -> None:
    assert response.status == status, (status.name, response.status, response.message)
    assert not response.success
    assert not response.points
    for word in words:
        assert word in response.message, (word, response.message)
    rig.ask_good()  # and the node keeps serving


def test_bad_prompt(rig: Rig) -> None:
    expect(rig, rig.ask("", stamp=rig.frame()), Status.BAD_PROMPT, "empty")
    expect(rig, rig.ask("   \n\t", stamp=rig.frame()), Status.BAD_PROMPT, "empty")
    expect(rig, rig.ask("x" * 5000, stamp=rig.frame()), Status.BAD_PROMPT, "5000", "2000")


def test_bad_request(rig: Rig) -> None:
    expect(rig, rig.ask(stamp=rig.frame(), mode=9), Status.BAD_REQUEST, "mode")


def test_backend_error_on_unknown_prompt(rig: Rig) -> None:
    expect(
        rig,
        rig.ask("the purple elephant", stamp=rig.frame()),
        Status.BACKEND_ERROR,
        "purple elephant",
    )


def test_parse_error(rig: Rig) -> None:
    expect(rig, rig.ask("something unreadable", stamp=rig.frame()), Status.PARSE_ERROR, "not sure")


def test_out_of_image(rig: Rig) -> None:
    expect(rig, rig.ask("something off the image", stamp=rig.frame()), Status.OUT_OF_IMAGE, "1.5")


def test_no_valid_depth_in_a_hole(rig: Rig) -> None:
    expect(rig, rig.ask(stamp=rig.frame(hole_px=HOLE)), Status.NO_VALID_DEPTH)


def test_tf_error_for_an_unknown_frame(rig: Rig) -> None:
    expect(rig, rig.ask(stamp=rig.frame(), target_frame="moon"), Status.TF_ERROR, "moon")


@contextlib.contextmanager
def tf_timeout_s(rig: Rig, value: float) -> Iterator[None]:
    """The node's tf_timeout_s (a live parameter) set to ``value`` for a request that must fail:
    its wait then costs ``value`` rather than the rig's 4 s; the rig's value comes back after."""
    params = AsyncParameterClient(rig.graph.node, "/refer_node")
    assert params.wait_for_services(timeout_sec=10)

    def set_param(seconds: float) -> None:
        future = params.set_parameters([Parameter("tf_timeout_s", value=seconds)])
        deadline = time.monotonic() + 10.0
        while not future.done():
            assert time.monotonic() < deadline, "set_parameters did not answer"
            time.sleep(0.005)
        assert future.result().results[0].successful

    set_param(value)
    try:
        yield
    finally:
        set_param(4.0)


def test_tf_error_for_a_frame_not_connected_to_the_camera(rig: Rig) -> None:
    """``island`` exists (it has a child on /tf) but its tree never reaches the camera's."""
    stamp = rig.frame()
    island = StampedTransform("island", "island_child", stamp, Transform.identity())
    rig.publisher.pub_tf.publish(TFMessage(transforms=[transform_to_msg(island)]))
    time.sleep(0.2)  # /tf and the request travel separately
    optical = SCENE.optical_frame
    with tf_timeout_s(rig, 1.0):
        response = rig.ask(stamp=stamp, target_frame="island")
    expect(
        rig,
        response,
        Status.TF_ERROR,
        f"island <- {optical} at {stamp * 1e-9:.3f} s",
        "not connected",
    )


def test_tf_error_for_a_frame_newer_than_the_newest_transform(rig: Rig) -> None:
    """The camera frame arrives but its /tf never does: the wait (tf_timeout_s) runs out."""
    rig.publisher.publish_tf = False
    try:
        stamp = rig.frame()
    finally:
        rig.publisher.publish_tf = True
    with tf_timeout_s(rig, 1.0):
        response = rig.ask(stamp=stamp)
    expect(
        rig,
        response,
        Status.TF_ERROR,
        f"{SCENE.base_frame} <- {SCENE.optical_frame} at {stamp * 1e-9:.3f} s",
        "extrapolation into the future",
        "after waiting 1.000 s",
    )


def test_tf_error_for_a_frame_older_than_the_transform_buffer(rig: Rig) -> None:
    """A frame stamped a minute before the first /tf the node kept (its buffer keeps 10 s)."""
    rig.publisher.publish_tf = False
    try:
        stamp = rig.publisher.publish_at(-60.0)
    finally:
        rig.publisher.publish_tf = True
    # A minute back is a jump back in time for the node's frame buffer: a request that reached
    # the node before this frame would be served from the old timeline (its newest frame).
    time.sleep(1.0)
    with tf_timeout_s(rig, 0.5):
        response = rig.ask(stamp=stamp)
    expect(
        rig,
        response,
        Status.TF_ERROR,
        f"{SCENE.base_frame} <- {SCENE.optical_frame} at {stamp * 1e-9:.3f} s",
        "extrapolation into the past",
    )


def test_backend_timeout(rig: Rig) -> None:
    expect(
        rig, rig.ask("the red box, too slowly", stamp=rig.frame()), Status.BACKEND_TIMEOUT, "1.5"
    )


def test_no_frame_after_min_stamp(rig: Rig) -> None:
    future = rig.frame() + 3_600_000_000_000
    expect(rig, rig.ask(stamp=future), Status.NO_FRAME, "at or after")


def test_stale_frame(rig: Rig) -> None:
    rig.frame()
    time.sleep(1.3)  # max_frame_age_s = 1.0; no newer frame arrives meanwhile
    response = rig.ask()  # latest frame
    assert response.status == Status.STALE_FRAME, response.message
    assert "old" in response.message
    rig.ask_good()


def test_unsupported_encoding(rig: Rig) -> None:
    expect(
        rig, rig.ask(stamp=rig.frame(depth_encoding="8UC1")), Status.UNSUPPORTED_ENCODING, "8UC1"
    )


def test_bad_frame_zero_intrinsics(rig: Rig) -> None:
    expect(rig, rig.ask(stamp=rig.frame(zero_intrinsics=True)), Status.BAD_FRAME, "intrinsics")


def test_bad_frame_depth_not_aligned(rig: Rig) -> None:
    expect(rig, rig.ask(stamp=rig.frame(depth_size=(320, 240))), Status.BAD_FRAME, "aligned")


def test_busy_beyond_max_pending_requests(rig: Rig) -> None:
    stamp = rig.frame()
    responses: list[RefPoint.Response] = []
    lock = threading.Lock()

    def call() -> None:
        response = rig.ask("the red box, slowly", stamp=stamp)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    statuses = sorted(r.status for r in responses)
    assert len(responses) == 5
    assert statuses.count(Status.OK) >= 2, statuses  # two admitted (one model call at a time)
    assert statuses.count(Status.BUSY) >= 1, statuses
    assert set(statuses) <= {Status.OK, Status.BUSY}, statuses
    busy = next(r for r in responses if r.status == Status.BUSY)
    assert "max_pending_requests=2" in busy.message
    rig.ask_good()


def test_no_frame_before_any_camera_message(
    tmp_path: Path, domain_id: int, graph: GraphClient
) -> None:
    """A node whose camera topics are remapped to where nobody publishes: NO_FRAME, then serving."""
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"answers": [{"prompt": "the red box", "answer": GOOD}]}))
    node = NodeProcess(
        "roborefer_ros.tools.refer_node",
        [
            "--ros-args",
            "-r",
            "__node:=lonely_node",
            "-r",
            "color/image_raw:=/nowhere/image",
            "-p",
            "backend:=recorded",
            "-p",
            f"answers_file:={answers}",
            "-p",
            "frame_wait_timeout_s:=0.3",
        ],
        domain_id,
        tmp_path / "lonely.log",
    )
    try:
        client = graph.node.create_client(RefPoint, "/lonely_node/refer")
        graph.wait_for_service(client)
        for _ in range(2):
            request = RefPoint.Request(prompt="the red box")
            response = graph.call(client, request, timeout_s=20, resend_s=4)
            assert response.status == Status.NO_FRAME
            assert "/nowhere/image" in response.message  # names the topic it listens on
    finally:
        assert node.stop() == 0, node.log()
