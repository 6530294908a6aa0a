"""RoboReferHttpBackend against a real fake RoboRefer server process: the exact wire format,
the failure statuses, the health check, and the whole Referrer path on a synthetic scene."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from roborefer_ros.backends.base import Backend, PointingQuery
from roborefer_ros.backends.http_client import HttpSettings
from roborefer_ros.backends.image_codec import b64decode
from roborefer_ros.backends.parsers import format_roborefer_answer
from roborefer_ros.backends.prompt import ROBOREFER_POINTING_SUFFIX
from roborefer_ros.backends.registry import BackendOptions, make_backend
from roborefer_ros.backends.roborefer_http import RoboReferHttpBackend
from roborefer_ros.core.config import ReferConfig
from roborefer_ros.core.depth import encode_depth
from roborefer_ros.core.frame import Frame
from roborefer_ros.core.request import Mode, ReferRequest
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.core.tf_buffer import StampedTransform, TransformBuffer
from roborefer_ros.core.transforms import Transform
from roborefer_ros.pipeline import Referrer
from roborefer_ros.sim.analytic_scene import T_LINK_FROM_OPTICAL, SyntheticScene
from roborefer_ros.tools.fake_model_server import FakeModelServer

SCENE = SyntheticScene()  # 640x480, static camera
T_S = 100.0
STAMP_NS = int(T_S * 1e9)
RED_TOP = SCENE.boxes[0].top_center
SCENE_PROMPT = "the top of the red box"
U, V = SCENE.pixel_of(RED_TOP, T_S)
ANSWERS: dict[str, dict[str, Any]] = {
    "the red cup": {"answer": "[(0.25, 0.75), (0.5, 0.5)]"},
    "the blue cup": {"answer": "<think>left of the plate</think><answer>[(0.1, 0.2)]</answer>"},
    "qwen3 style": {"answer": '[{"point_2d": [500, 250]}]'},
    "no point": {"answer": "I cannot see a cup in this image."},
    "far away": {"answer": "[(1.7, 0.5)]"},
    "no answer field": {"reply": {"result": 1}},
    "number answer": {"reply": {"result": 1, "answer": 42}},
    "a list reply": {"reply": [1, 2]},
    "flaky": {"sequence": [{"status": 500}, {"answer": "[(0.4, 0.6)]"}]},
    "broken": {"status": 500, "body": "Traceback: CUDA error"},
    "slow": {"delay_s": 3.0, "answer": "[(0.5, 0.5)]"},
    "garbage": {"raw": "<!doctype html><title>502 Bad Gateway</title>"},
    "huge": {"oversized_bytes": 5_000_000},
    "dropped": {"close": True},
    SCENE_PROMPT: {"answer": format_roborefer_answer([(U / SCENE.width, V / SCENE.height)])},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeModelServer]:
    with FakeModelServer("roborefer", ANSWERS, tmp_path_factory.mktemp("roborefer")) as fake:
        yield fake


def backend(server: FakeModelServer, **kwargs: Any) -> RoboReferHttpBackend:
    kwargs.setdefault("settings", HttpSettings(retry_backoff_s=0.05))
    return RoboReferHttpBackend(server.url, **kwargs)


def gradient(height: int = 48, width: int = 64) -> npt.NDArray[np.uint8]:
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols * 3 % 256, rows * 5 % 256, (rows + cols) % 256], -1).astype(np.uint8)


def query(instruction: str, **kwargs: Any) -> PointingQuery:
    return PointingQuery(gradient(), instruction, Mode.AUTO, 1, **kwargs)


def posts(server: FakeModelServer, instruction: str) -> list[dict[str, Any]]:
    """The logged requests whose prompt text starts with ``instruction``."""
    return [
        r for r in server.requests() if (r["body"] or {}).get("text", "").startswith(instruction)
    ]


def last_body(server: FakeModelServer, instruction: str) -> dict[str, Any]:
    bodies = [r["body"] for r in posts(server, instruction)]
    assert bodies, f"the server never saw {instruction!r}"
    body: dict[str, Any] = bodies[-1]
    return body


def decode_image(text: str) -> Image.Image:
    image = Image.open(io.BytesIO(b64decode(text)))
    image.load()
    return image


def failure(b: RoboReferHttpBackend, q: PointingQuery, timeout_s: float = 3.0) -> RefPointError:
    with pytest.raises(RefPointError) as info:
        b.point(q, timeout_s)
    return info.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the wire format ------------------------------------------------------------------------


def test_answers_with_the_parsed_points(server: FakeModelServer) -> None:
    answer = backend(server).point(query("the red cup"), 3.0)
    assert answer.points_norm == ((0.25, 0.75), (0.5, 0.5))
    assert answer.raw_text == "[(0.25, 0.75), (0.5, 0.5)]"
    assert answer.model_image_size == (64, 48)
    assert answer.depth_source == "none"
    assert 0.0 < answer.latency_s < 3.0


def test_sends_exactly_the_authors_request(server: FakeModelServer) -> None:
    backend(server).point(query("  the red cup "), 3.0)
    request = posts(server, "the red cup ")[-1]
    assert request["path"] == "/query"
    assert request["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in request["headers"]
    body = request["body"]
    assert set(body) == {"image_url", "depth_url", "enable_depth", "text"}
    assert body["text"] == "the red cup " + ROBOREFER_POINTING_SUFFIX
    assert "i.e. [(x1, y1)],  where each tuple" in body["text"]  # the authors' double space
    assert body["depth_url"] == [] and body["enable_depth"] == 0
    (image_b64,) = body["image_url"]
    assert not image_b64.startswith("data:")  # raw base64 of the file, not a data URI
    image = decode_image(image_b64)
    assert image.format == "PNG" and image.size == (64, 48)
    np.testing.assert_array_equal(np.asarray(image), gradient())


def test_the_server_decodes_the_camera_frame_pixel_for_pixel(server: FakeModelServer) -> None:
    """The default encoding is lossless: a 1280x720 camera-like frame (sensor noise in every
    channel) decodes, on the server's side of the wire, to exactly the frame's pixels."""
    rng = np.random.default_rng(3)
    frame = SyntheticScene(width=1280, height=720).render(T_S)[0]
    noisy = np.clip(frame + rng.normal(0.0, 2.0, frame.shape), 0, 255).astype(np.uint8)
    answer = backend(server).point(PointingQuery(noisy, "the red cup", Mode.AUTO, 1), 10.0)
    assert answer.model_image_size == (1280, 720)
    image = decode_image(last_body(server, "the red cup")["image_url"][0])
    assert image.format == "PNG" and image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), noisy)


def test_png_deflate_is_lossless_too(server: FakeModelServer) -> None:
    backend(server, image_encoding="png_deflate").point(query("the red cup"), 3.0)
    image = decode_image(last_body(server, "the red cup")["image_url"][0])
    np.testing.assert_array_equal(np.asarray(image), gradient())


def test_jpeg_encoding_sends_a_jpeg_file(server: FakeModelServer) -> None:
    backend(server, image_encoding="jpeg", jpeg_quality=80).point(query("the red cup"), 3.0)
    image = decode_image(last_body(server, "the red cup")["image_url"][0])
    assert image.format == "JPEG" and image.size == (64, 48)


def test_sensor_depth_is_sent_as_png_with_enable_depth(server: FakeModelServer) -> None:
    depth = np.repeat(gradient()[..., 1:2], 3, axis=-1)
    answer = backend(server, depth_source="sensor").point(
        query("the blue cup", depth_for_model=depth), 3.0
    )
    assert answer.depth_source == "sensor"
    assert answer.points_norm == ((0.1, 0.2),)  # reasoning skipped, <answer> read
    body = last_body(server, "the blue cup")
    assert body["enable_depth"] == 1 and len(body["depth_url"]) == len(body["image_url"]) == 1
    depth_image = decode_image(body["depth_url"][0])
    assert depth_image.format == "PNG"
    np.testing.assert_array_equal(np.asarray(depth_image), depth)


def test_depth_source_defaults_to_the_querys(server: FakeModelServer) -> None:
    depth = np.zeros((48, 64, 3), np.uint8)
    q = query("the blue cup", depth_for_model=depth, depth_source="estimated")
    assert backend(server).point(q, 3.0).depth_source == "estimated"
    assert last_body(server, "the blue cup")["enable_depth"] == 1


def test_depth_source_none_keeps_the_model_rgb_only(server: FakeModelServer) -> None:
    depth = np.zeros((48, 64, 3), np.uint8)
    answer = backend(server, depth_source="none").point(
        query("the blue cup", depth_for_model=depth, depth_source="sensor"), 3.0
    )
    assert answer.depth_source == "none"
    body = last_body(server, "the blue cup")
    assert body["enable_depth"] == 0 and body["depth_url"] == []


def test_a_query_without_depth_reports_none(server: FakeModelServer) -> None:
    answer = backend(server, depth_source="sensor").point(query("the blue cup"), 3.0)
    assert answer.depth_source == "none"
    assert last_body(server, "the blue cup")["enable_depth"] == 0


def test_the_answer_format_is_configurable(server: FakeModelServer) -> None:
    answer = backend(server, answer_format="qwen3").point(query("qwen3 style"), 3.0)
    assert answer.points_norm == ((0.5, 0.25),)


# -- failures -------------------------------------------------------------------------------


def test_unparseable_answer_is_a_parse_error_keeping_the_text(server: FakeModelServer) -> None:
    err = failure(backend(server), query("no point"))
    assert err.status is Status.PARSE_ERROR
    assert err.raw_answer == "I cannot see a cup in this image."


def test_point_off_the_image_keeps_the_text(server: FakeModelServer) -> None:
    err = failure(backend(server), query("far away"))
    assert err.status is Status.OUT_OF_IMAGE and err.raw_answer == "[(1.7, 0.5)]"


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("no answer field", "has no 'answer'"),
        ("number answer", "has a int 'answer'"),
        ("a list reply", "is a JSON list"),
    ],
)
def test_reply_without_an_answer_string(server: FakeModelServer, prompt: str, words: str) -> None:
    err = failure(backend(server), query(prompt))
    assert err.status is Status.BACKEND_ERROR
    assert words in err.message and f"{server.url}/query" in err.message


def test_a_500_is_retried(server: FakeModelServer) -> None:
    answer = backend(server).point(query("flaky"), 3.0)
    assert answer.points_norm == ((0.4, 0.6),)
    assert len(posts(server, "flaky")) == 2


def test_500s_exhausted(server: FakeModelServer) -> None:
    err = failure(
        backend(server, settings=HttpSettings(max_retries=2, retry_backoff_s=0.01)), query("broken")
    )
    assert err.status is Status.BACKEND_ERROR
    assert "HTTP 500" in err.message and "CUDA error" in err.message
    assert "after 3 attempts" in err.message


def test_slow_server_is_a_timeout_within_the_request_deadline(server: FakeModelServer) -> None:
    started = time.monotonic()
    err = failure(backend(server), query("slow"), timeout_s=0.5)
    assert err.status is Status.BACKEND_TIMEOUT
    assert "0.5 s" in err.message and server.url in err.message
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("garbage", "not JSON: '<!doctype html>"),
        ("huge", "max_response_bytes"),
        ("dropped", "closed the connection"),
    ],
)
def test_bad_replies_are_backend_errors(server: FakeModelServer, prompt: str, words: str) -> None:
    err = failure(backend(server), query(prompt))
    assert err.status is Status.BACKEND_ERROR and words in err.message


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    err = failure(RoboReferHttpBackend(url, HttpSettings(max_retries=0)), query("the red cup"))
    assert err.status is Status.BACKEND_ERROR
    assert f"{url}/query" in err.message and "refused" in err.message


def test_a_closed_backend_refuses_requests(server: FakeModelServer) -> None:
    b = backend(server)
    b.load()
    b.close()
    assert "closed" in failure(b, query("the red cup")).message
    b.load()
    assert b.point(query("the red cup"), 3.0).points_norm[0] == (0.25, 0.75)


# -- load() -----------------------------------------------------------------------------------


def test_load_checks_the_hello_page(server: FakeModelServer) -> None:
    before = len(server.requests())
    backend(server).load()
    (check,) = server.requests()[before:]
    assert (check["method"], check["path"]) == ("GET", "/")


def test_load_fails_on_a_closed_port_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(RefPointError) as info:
        RoboReferHttpBackend(url, HttpSettings(max_retries=0)).load()
    assert info.value.status is Status.BACKEND_ERROR
    assert f"RoboRefer server at {url}/ is not reachable" in info.value.message


def test_load_fails_on_a_server_that_is_not_roborefer(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    other = FakeModelServer("openai", {}, tmp_path_factory.mktemp("other"))
    with other, pytest.raises(RefPointError) as info:
        RoboReferHttpBackend(other.url).load()
    assert info.value.status is Status.BACKEND_ERROR
    assert other.url in info.value.message and "HTTP 404" in info.value.message


# -- construction and the registry ----------------------------------------------------------


def test_satisfies_the_backend_protocol(server: FakeModelServer) -> None:
    b: Backend = backend(server)
    assert b.name == "roborefer_http"
    assert repr(b) == f"RoboReferHttpBackend('{server.url}', roborefer)"


def test_made_by_the_registry_from_options(server: FakeModelServer) -> None:
    options = BackendOptions(server_url=server.url + "/", answer_format="qwen3", max_retries=0)
    b = make_backend("roborefer_http", options)
    assert isinstance(b, RoboReferHttpBackend)
    assert b.server_url == server.url and b.client.settings.max_retries == 0
    b.load()
    assert b.point(query("qwen3 style"), 3.0).points_norm == ((0.5, 0.25),)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("server_url", "ftp://127.0.0.1:25547"),
        ("answer_format", "llava"),
        ("image_encoding", "webp"),
        ("jpeg_quality", 0),
        ("depth_source", "lidar"),
        ("max_retries", -1),
        ("connect_timeout_s", 0.0),
    ],
)
def test_registry_refuses_bad_options_naming_them(field: str, value: object) -> None:
    with pytest.raises(RefPointError) as info:
        make_backend("roborefer_http", BackendOptions(**{field: value}))  # type: ignore[arg-type]
    assert info.value.status is Status.BACKEND_ERROR
    assert repr(value) in info.value.message or str(value) in info.value.message


# -- the whole request path -----------------------------------------------------------------


class _Lookup:
    def __init__(self, buffer: TransformBuffer) -> None:
        self.buffer = buffer

    def lookup(
        self, target_frame: str, source_frame: str, stamp_ns: int, timeout_s: float
    ) -> Transform:
        return self.buffer.wait_for_transform(target_frame, source_frame, stamp_ns, timeout_s)


def scene_lookup() -> _Lookup:
    buffer = TransformBuffer()
    buffer.set_transform(
        StampedTransform(SCENE.link_frame, SCENE.optical_frame, 0, T_LINK_FROM_OPTICAL),
        authority="test",
        is_static=True,
    )
    for t_s in (T_S - 1, T_S, T_S + 1):
        link = StampedTransform(
            SCENE.base_frame, SCENE.link_frame, int(t_s * 1e9), SCENE.T_base_from_link(t_s)
        )
        buffer.set_transform(link, authority="test")
    return _Lookup(buffer)


def test_referrer_with_the_http_backend_finds_the_3d_point(server: FakeModelServer) -> None:
    rgb, depth_m = SCENE.render(T_S)
    frame = Frame(
        stamp_ns=STAMP_NS,
        frame_id=SCENE.optical_frame,
        rgb=rgb,
        depth=encode_depth(depth_m),
        depth_encoding="16UC1",
        camera=SCENE.camera_model(),
        depth_frame_id=SCENE.optical_frame,
    )
    config = ReferConfig(tf_timeout_s=0.5, frame_wait_timeout_s=0.5, model_timeout_s=5.0)
    referrer = Referrer(backend(server), scene_lookup(), config, clock_ns=lambda: STAMP_NS)
    outcome = referrer.refer(
        ReferRequest(SCENE_PROMPT, mode=Mode.LOCATE), lambda min_stamp_ns, timeout_s: frame
    )
    assert outcome.status is Status.OK, outcome.message
    assert outcome.backend == "roborefer_http" and outcome.raw_answer.startswith("[(0.")
    (point,) = outcome.points
    # 3-decimal answers quantise the pixel to ~0.6 px: about a millimetre on the box top
    error_m = float(np.linalg.norm(point.point_target - RED_TOP))
    assert error_m < 0.004, f"{error_m * 1e3:.2f} mm from the red box's top centre"
    body = last_body(server, SCENE_PROMPT)
    assert decode_image(body["image_url"][0]).size == (640, 480)
