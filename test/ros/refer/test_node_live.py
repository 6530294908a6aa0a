"""RefPoint on a live graph: a moving camera, TF at the frame's stamp, 3D truth within 5 mm."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PointStamped
from roborefer_ros.srv import RefPoint

from roborefer_ros.core.status import Status
from roborefer_ros.ros.conversions import stamp_ns, time_msg
from roborefer_ros.ros.graph import GraphClient, ScenePublisher
from roborefer_ros.sim.analytic_scene import SyntheticScene
from test.ros.conftest import start_refer_node, write_referring

pytestmark = pytest.mark.graph

RATE_HZ = 10.0
# Monotonic sweep for the first 3.3 s: y goes -0.5 m -> +0.5 m at 0.3 m/s, so frames 0.5 s apart
# see the camera 0.15 m apart.
SCENE = SyntheticScene(speed_mps=0.3, sweep_m=0.5)
QUERY_FRAMES = {"the red box": 12, "the blue box": 17, "the free area right of the green box": 22}
FREE_POINT = np.array([0.42, -0.12, 0.0])


def _truth(prompt: str) -> np.ndarray:
    if prompt.startswith("the free area"):
        return FREE_POINT
    return next(b for b in SCENE.boxes if b.name == prompt.removeprefix("the ")).top_center


def _xyz(stamped: PointStamped) -> np.ndarray:
    return np.array([stamped.point.x, stamped.point.y, stamped.point.z])


@pytest.fixture
def moving_camera_graph(tmp_path: Path, domain_id: int, graph: GraphClient):
    t0_ns = time.time_ns() + 2_000_000_000
    queries = []
    for prompt, k in QUERY_FRAMES.items():
        t_s = k / RATE_HZ
        u, v = SCENE.pixel_of(_truth(prompt), t_s)
        stamp = t0_ns + round(t_s * 1e9)
        queries.append(
            {
                "prompt": prompt,
                "stamp": {"sec": stamp // 10**9, "nanosec": stamp % 10**9},
                "pixel": [u, v],
                "point": [float(c) for c in _truth(prompt)],
                "mode": "place" if prompt.startswith("the free area") else "locate",
                "tolerance_m": 0.005,
            }
        )
    referring = write_referring(tmp_path / "referring.json", "base_link", queries)
    node = start_refer_node(
        tmp_path,
        domain_id,
        {
            "backend": "ground_truth",
            "referring_file": str(referring),
            "frame_ring_size": 40,
            "max_frame_age_s": 0.0,
            "tf_implementation": "own",
            "depth_source": "sensor",  # the model is shown the frame's own depth
            "qos_reliability": "reliable",
            "tf_timeout_s": 4.0,  # a /tf sample lost after discovery is resent in ~3 s
            "frame_wait_timeout_s": 5.0,
        },
    )
    publisher = None
    try:
        client = graph.node.create_client(RefPoint, "/refer_node/refer")
        graph.wait_for_service(client)
        publisher = ScenePublisher(
            graph, SCENE, rate_hz=RATE_HZ, t0_ns=t0_ns, history_depth=40
        )  # every query's frame reaches the node
        publisher.start(duration_s=3.2)
        yield node, client, publisher, t0_ns
    finally:
        if publisher is not None:
            publisher.stop()
        code = node.stop()
    assert code == 0, node.log()


def test_moving_camera_points_are_exact_at_the_frame_stamp(
    moving_camera_graph, graph: GraphClient
) -> None:
    node, client, publisher, t0_ns = moving_camera_graph
    for prompt, k in QUERY_FRAMES.items():
        stamp = t0_ns + round(k / RATE_HZ * 1e9)
        request = RefPoint.Request(prompt=prompt, min_stamp=time_msg(stamp))
        # Ask once the camera has moved on 0.5 s: "latest" TF would now be 0.15 m off.
        deadline = time.monotonic() + 10
        while stamp + 500_000_000 not in publisher.published and time.monotonic() < deadline:
            time.sleep(0.01)
        response = graph.call(client, request, timeout_s=20, resend_s=6)  # a node just started
        assert response.status == Status.OK, (prompt, response.message, node.log()[-3000:])
        assert response.success
        assert stamp_ns(response.image_header.stamp) == stamp
        assert response.image_header.frame_id == SCENE.optical_frame
        assert response.raw_answer.startswith("[(")
        assert response.depth_source == "sensor"
        (point,) = response.points
        assert point.point.header.frame_id == "base_link"
        assert stamp_ns(point.point.header.stamp) == stamp
        error = np.linalg.norm(_xyz(point.point) - _truth(prompt))
        assert error < 0.005, f"{prompt}: 3D error {error * 1000:.1f} mm"

        # Counterfactual: the same camera-frame point under the newest transform ("latest TF").
        latest = max(publisher.published)
        t_latest = publisher.published[latest]
        p_cam = _xyz(point.point_camera)
        wrong = SCENE.T_base_from_optical(t_latest).apply(p_cam)
        assert latest > stamp
        assert np.linalg.norm(wrong - _truth(prompt)) > 0.05, "latest TF would not have failed"

        if prompt.startswith("the free area"):
            q = point.pose.pose.orientation
            # PLACE: the pose's +z axis is the table normal (up in base_link).
            z_axis = np.array(
                [
                    2 * (q.x * q.z + q.w * q.y),
                    2 * (q.y * q.z - q.w * q.x),
                    1 - 2 * (q.x**2 + q.y**2),
                ]
            )
            assert np.degrees(np.arccos(np.clip(z_axis[2], -1, 1))) < 2.0
        assert response.timings.total_s > 0
        assert response.timings.total_s >= response.timings.model_s
