"""OpenAICompatBackend against real fake OpenAI-compatible server processes: each model family's
prompt and answer grammar, the exact request, the API key's handling, failures and load()."""

from __future__ import annotations

import io
import logging
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
from roborefer_ros.backends.openai_compat import FAMILY_DEFAULTS, OpenAICompatBackend
from roborefer_ros.backends.parsers import AnswerFormat
from roborefer_ros.backends.prompt import ROBOREFER_POINTING_SUFFIX, build_roborefer_prompt
from roborefer_ros.backends.registry import BackendOptions, make_backend
from roborefer_ros.core.request import Mode
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.tools.fake_model_server import FakeModelServer

SECRET = "sk-proj-7Hq2x9ZtLmN4vB8c"  # fake; must appear only in the Authorization header
KEY_ENV = "ROBOREFER_TEST_OPENAI_KEY"
MODEL = "fake-vlm"

# One answer per family, each meaning the point (0.25, 0.75) of a 64x48 image.
FAMILY_ANSWERS = {
    AnswerFormat.ROBOREFER: "[(0.25, 0.75)]",
    AnswerFormat.ROBOPOINT: "[(0.250, 0.750)]",
    AnswerFormat.QWEN25: '```json\n[{"point_2d": [16, 36], "label": "cup"}]\n```',
    AnswerFormat.QWEN3: '[{"point_2d": [250, 750], "label": "cup"}]',
    AnswerFormat.GEMINI: '```json\n[{"point": [750, 250], "label": "cup"}]\n```',
    AnswerFormat.MOLMO: '<point x="25.0" y="75.0" alt="cup">cup</point>',
}
ANSWERS: dict[str, dict[str, Any]] = {
    **{f"cup for {fmt.value}": {"answer": text} for fmt, text in FAMILY_ANSWERS.items()},
    "the big frame": {"answer": '[{"point_2d": [320, 90]}]'},
    "no point": {"answer": "There is no cup."},
    "no content": {"reply": {"choices": [{"message": {"role": "assistant"}}]}},
    "no choices": {"reply": {"choices": []}},
    "flaky": {"sequence": [{"status": 502}, {"answer": "[(0.4, 0.6)]"}]},
    "broken": {"status": 500, "body": "engine dead", "echo_headers": True},
    "slow": {"delay_s": 3.0, "answer": "[(0.5, 0.5)]"},
    "garbage": {"raw": "data: [DONE]"},
    "huge": {"oversized_bytes": 2_000_000},
    "dropped": {"close": True},
}
# The parts answer arrives in two text parts: "[(0.5, " and "0.5)]" must be joined.
ANSWERS["the parts cup"] = {
    "reply": {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "[(0.5, "},
                        {"type": "text", "text": "0.5)]"},
                    ],
                }
            }
        ]
    }
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeModelServer]:
    """Requires ``Authorization: Bearer SECRET`` (401 echoing what it got, otherwise)."""
    workdir = tmp_path_factory.mktemp("openai")
    with FakeModelServer("openai", ANSWERS, workdir, api_key=SECRET) as fake:
        yield fake


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeModelServer]:
    """A local server: no key needed, and no /models route (404)."""
    workdir = tmp_path_factory.mktemp("openai_open")
    with FakeModelServer("openai", ANSWERS, workdir, no_models=True) as fake:
        yield fake


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


def backend(server: FakeModelServer, **kwargs: Any) -> OpenAICompatBackend:
    kwargs.setdefault("settings", HttpSettings(retry_backoff_s=0.05))
    kwargs.setdefault("api_key_env", KEY_ENV)
    return OpenAICompatBackend(server.url + "/v1", MODEL, **kwargs)


def gradient(height: int = 48, width: int = 64) -> npt.NDArray[np.uint8]:
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols * 3 % 256, rows * 5 % 256, (rows + cols) % 256], -1).astype(np.uint8)


def query(instruction: str, rgb: npt.NDArray[np.uint8] | None = None) -> PointingQuery:
    return PointingQuery(gradient() if rgb is None else rgb, instruction, Mode.AUTO, 1)


def prompt_of(request: dict[str, Any]) -> str:
    (message,) = request["body"]["messages"]
    return str(message["content"][1]["text"])


def sent(server: FakeModelServer, instruction: str) -> list[dict[str, Any]]:
    return [r for r in server.requests() if r["body"] and instruction in prompt_of(r)]


def decode_data_uri(uri: str) -> Image.Image:
    head, _, data = uri.partition(",")
    assert head == "data:image/png;base64", head
    image = Image.open(io.BytesIO(b64decode(data)))
    image.load()
    return image


def failure(b: OpenAICompatBackend, q: PointingQuery, timeout_s: float = 3.0) -> RefPointError:
    with pytest.raises(RefPointError) as info:
        b.point(q, timeout_s)
    return info.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- every model family ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(AnswerFormat), ids=[f.value for f in AnswerFormat])
def test_each_family_prompt_and_answer(
    server: FakeModelServer, key: str, fmt: AnswerFormat
) -> None:
    b = backend(server, answer_format=fmt.value)
    b.load()
    instruction = f"cup for {fmt.value}"
    answer = b.point(query(instruction), 3.0)
    assert len(answer.points_norm) == 1
    assert answer.points_norm[0] == pytest.approx((0.25, 0.75))
    assert answer.raw_text == FAMILY_ANSWERS[fmt]
    assert answer.model_image_size == (64, 48) and answer.depth_source == "none"
    expected = FAMILY_DEFAULTS[fmt].replace("{object}", instruction)
    assert prompt_of(sent(server, instruction)[-1]) == expected


def test_family_prompts_are_the_documented_ones() -> None:
    assert (
        FAMILY_DEFAULTS[AnswerFormat.ROBOREFER].replace("{object}", "the cup")
        == build_roborefer_prompt("the cup")
        == "the cup " + ROBOREFER_POINTING_SUFFIX
    )
    assert FAMILY_DEFAULTS[AnswerFormat.QWEN25] == (
        "Locate {object} in this image and output the point coordinates in JSON format."
    )
    assert FAMILY_DEFAULTS[AnswerFormat.GEMINI] == "Locate one point of {object}."
    assert FAMILY_DEFAULTS[AnswerFormat.MOLMO] == "Locate several points of {object}."
    assert "0 to 1000" in FAMILY_DEFAULTS[AnswerFormat.QWEN3]


def test_default_format_is_qwen25(server: FakeModelServer, key: str) -> None:
    assert backend(server).format is AnswerFormat.QWEN25


# -- the exact request ----------------------------------------------------------------------


def test_sends_exactly_the_chat_request(server: FakeModelServer, key: str) -> None:
    b = backend(server, answer_format="roborefer", max_tokens=77)
    b.load()
    b.point(query("  cup for roborefer "), 3.0)
    request = sent(server, "cup for roborefer")[-1]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"
    body = request["body"]
    assert set(body) == {"model", "messages", "temperature", "max_tokens"}
    assert body["model"] == MODEL and body["temperature"] == 0 and body["max_tokens"] == 77
    (message,) = body["messages"]
    assert message["role"] == "user"
    image_part, text_part = message["content"]
    assert image_part["type"] == "image_url" and text_part["type"] == "text"
    assert text_part["text"] == "cup for roborefer " + ROBOREFER_POINTING_SUFFIX
    image = decode_data_uri(image_part["image_url"]["url"])
    np.testing.assert_array_equal(np.asarray(image), gradient())


def test_content_as_a_list_of_parts(server: FakeModelServer, key: str) -> None:
    answer = backend(server, answer_format="roborefer").point(query("the parts cup"), 3.0)
    assert answer.points_norm == ((0.5, 0.5),) and answer.raw_text == "[(0.5, 0.5)]"


def test_custom_template_replaces_object(server: FakeModelServer, key: str) -> None:
    template = "Point at {object}; answer as [(x, y)] in [0, 1]. {braces} stay."
    b = backend(server, answer_format="roborefer", prompt_template=template)
    b.point(query("cup for roborefer"), 3.0)
    expected = "Point at cup for roborefer; answer as [(x, y)] in [0, 1]. {braces} stay."
    assert prompt_of(sent(server, "cup for roborefer")[-1]) == expected


def test_max_image_side_shrinks_and_maps_pixels_back(server: FakeModelServer, key: str) -> None:
    frame = np.zeros((720, 1280, 3), np.uint8)
    b = backend(server, answer_format="qwen2.5", max_image_side=640)
    answer = b.point(query("the big frame", frame), 3.0)
    assert answer.model_image_size == (640, 360)
    assert answer.points_norm == ((0.5, 0.25),)  # [320, 90] of 640x360
    url = sent(server, "the big frame")[-1]["body"]["messages"][0]["content"][0]["image_url"]
    assert decode_data_uri(url["url"]).size == (640, 360)


def test_without_a_key_no_authorization_is_sent(
    open_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    b = backend(open_server, answer_format="qwen3")
    b.load()  # /models answers 404 here: tolerated
    assert b.point(query("cup for qwen3"), 3.0).points_norm[0] == pytest.approx((0.25, 0.75))
    request = sent(open_server, "cup for qwen3")[-1]
    assert "Authorization" not in request["headers"]


# -- the API key stays secret ---------------------------------------------------------------


def test_key_never_in_messages_repr_or_logs(
    server: FakeModelServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    b = backend(server)
    b.load()
    assert SECRET not in repr(b)
    err = failure(b, query("broken"))  # the server echoes our headers in its 500 body
    assert "HTTP 500" in err.message and "engine dead" in err.message
    assert "Authorization" in err.message  # the echo arrived...
    assert SECRET not in str(err) and SECRET not in err.message  # ...with the key masked
    assert "retry 1 of 1" in caplog.text and SECRET not in caplog.text


def test_wrong_key_fails_load_without_showing_it(
    server: FakeModelServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-0123456789"
    monkeypatch.setenv(KEY_ENV, wrong)
    with pytest.raises(RefPointError) as info:
        backend(server).load()
    assert info.value.status is Status.BACKEND_ERROR
    assert "HTTP 401" in info.value.message and "Incorrect API key" in info.value.message
    assert wrong not in info.value.message and wrong not in caplog.text
    assert "/v1/models" in info.value.message


# -- failures -------------------------------------------------------------------------------


def test_unparseable_answer_keeps_the_text(server: FakeModelServer, key: str) -> None:
    err = failure(backend(server), query("no point"))
    assert err.status is Status.PARSE_ERROR and err.raw_answer == "There is no cup."


@pytest.mark.parametrize("prompt", ["no content", "no choices"])
def test_reply_without_content_is_a_backend_error(
    server: FakeModelServer, key: str, prompt: str
) -> None:
    err = failure(backend(server), query(prompt))
    assert err.status is Status.BACKEND_ERROR
    assert "choices[0].message.content" in err.message and "/v1/chat/completions" in err.message


def test_a_502_is_retried(server: FakeModelServer, key: str) -> None:
    answer = backend(server, answer_format="roborefer").point(query("flaky"), 3.0)
    assert answer.points_norm == ((0.4, 0.6),)
    assert len(sent(server, "flaky")) == 2


def test_500s_exhausted(server: FakeModelServer, key: str) -> None:
    settings = HttpSettings(max_retries=2, retry_backoff_s=0.01)
    err = failure(backend(server, settings=settings), query("broken"))
    assert err.status is Status.BACKEND_ERROR and "after 3 attempts" in err.message


def test_slow_server_times_out(server: FakeModelServer, key: str) -> None:
    started = time.monotonic()
    err = failure(backend(server), query("slow"), timeout_s=0.5)
    assert err.status is Status.BACKEND_TIMEOUT and "0.5 s" in err.message
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        ("garbage", "is not JSON: 'data: [DONE]'"),
        ("huge", "max_response_bytes"),
        ("dropped", "closed the connection"),
    ],
)
def test_bad_replies_are_backend_errors(
    server: FakeModelServer, key: str, prompt: str, words: str
) -> None:
    err = failure(backend(server), query(prompt))
    assert err.status is Status.BACKEND_ERROR and words in err.message


def test_load_fails_on_connection_refused() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    b = OpenAICompatBackend(url, MODEL, HttpSettings(max_retries=0))
    with pytest.raises(RefPointError) as info:
        b.load()
    assert info.value.status is Status.BACKEND_ERROR
    assert f"{url}/models" in info.value.message and "refused" in info.value.message


def test_load_without_the_models_check_does_not_connect() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    OpenAICompatBackend(url, MODEL, check_models=False).load()  # nothing listens: no error


def test_load_checks_models(server: FakeModelServer, key: str) -> None:
    before = len(server.requests())
    backend(server).load()
    (check,) = server.requests()[before:]
    assert (check["method"], check["path"]) == ("GET", "/v1/models")
    assert check["headers"]["Authorization"] == f"Bearer {SECRET}"


# -- construction and the registry ----------------------------------------------------------


def test_satisfies_the_backend_protocol(server: FakeModelServer) -> None:
    b: Backend = backend(server)
    assert b.name == "openai"


def test_made_by_the_registry(server: FakeModelServer, key: str) -> None:
    options = BackendOptions(
        openai_base_url=server.url + "/v1",
        openai_model=MODEL,
        api_key_env=KEY_ENV,
        answer_format="gemini",
        max_new_tokens=32,
        image_encoding="jpeg",
    )
    b = make_backend("openai", options)
    assert isinstance(b, OpenAICompatBackend) and b.max_tokens == 32
    b.load()
    assert b.point(query("cup for gemini"), 3.0).points_norm[0] == pytest.approx((0.25, 0.75))
    url = sent(server, "cup for gemini")[-1]["body"]["messages"][0]["content"][0]["image_url"]
    assert url["url"].startswith("data:image/jpeg;base64,/9j/")  # FF D8 FF: a JPEG file


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("openai_base_url", "ws://127.0.0.1:8000/v1", "'ws://127.0.0.1:8000/v1'"),
        ("openai_model", " ", "openai_model"),
        ("answer_format", "llava", "'llava'"),
        ("prompt_template", "Find the cup.", "'Find the cup.'"),
        ("image_encoding", "bmp", "'bmp'"),
        ("max_new_tokens", 0, "max_tokens"),
        ("max_response_bytes", 0, "max_response_bytes"),
    ],
)
def test_registry_refuses_bad_options(field: str, value: object, words: str) -> None:
    options: dict[str, Any] = {"openai_model": MODEL, field: value}
    with pytest.raises(RefPointError) as info:
        make_backend("openai", BackendOptions(**options))
    assert info.value.status is Status.BACKEND_ERROR and words in info.value.message
