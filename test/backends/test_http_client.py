"""JsonHttpClient against a real fake-server process on loopback: limits, retries, errors."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roborefer_ros.backends.http_client import (
    HttpSettings,
    JsonHttpClient,
    check_url,
    decode_json,
    redact_url,
)
from roborefer_ros.core.status import RefPointError, Status
from roborefer_ros.tools.fake_model_server import FakeModelServer

SECRET = "sk-test-4f9a1c77e2"  # a fake key: it must never show up in a message or a log line
LIMIT = 4096  # max_response_bytes of the size tests
ANSWERS: dict[str, dict[str, Any]] = {
    "ok": {"answer": "[(0.5, 0.5)]"},
    "flaky": {"sequence": [{"status": 500}, {"answer": "second try"}]},
    "dropped once": {"sequence": [{"close": True}, {"answer": "after the drop"}]},
    "always 500": {"status": 500, "body": "CUDA out of memory " + "x" * 400},
    "always 503 backoff": {"status": 503},
    "echo 500": {"status": 500, "body": "bad request from", "echo_headers": True},
    "slow": {"delay_s": 3.0, "answer": "too late"},
    "garbage": {"raw": "<html>Internal error</html> " + "y" * 200},
    "at limit": {"oversized_bytes": LIMIT},
    "over limit": {"oversized_bytes": LIMIT + 1},
    "over limit unsized": {"oversized_bytes": LIMIT + 1, "send_length": False},
    "at limit unsized": {"oversized_bytes": LIMIT, "send_length": False},
    "huge": {"oversized_bytes": 5_000_000},
    "dropped": {"close": True},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeModelServer]:
    with FakeModelServer("roborefer", ANSWERS, tmp_path_factory.mktemp("http")) as fake:
        yield fake


def client(**settings: Any) -> JsonHttpClient:
    settings.setdefault("retry_backoff_s", 0.05)
    return JsonHttpClient(HttpSettings(**settings))


def post(server: FakeModelServer, key: str, timeout_s: float = 3.0, **settings: Any) -> object:
    return client(**settings).post_json(f"{server.url}/query", {"text": key}, timeout_s)


def failure(server: FakeModelServer, key: str, timeout_s: float = 3.0, **settings: Any) -> Any:
    with pytest.raises(RefPointError) as info:
        post(server, key, timeout_s, **settings)
    return info.value


def sent(server: FakeModelServer, key: str) -> list[dict[str, Any]]:
    return [r for r in server.requests() if (r["body"] or {}).get("text") == key]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens there once the socket is closed


# -- success --------------------------------------------------------------------------------


def test_posts_json_and_returns_the_decoded_reply(server: FakeModelServer) -> None:
    headers = {"X-Trace": "abc"}
    reply = client().post_json(f"{server.url}/query", {"text": "ok", "n": [1, 2]}, 3.0, headers)
    assert reply == {"result": 1, "answer": "[(0.5, 0.5)]"}
    (request,) = [r for r in server.requests() if r["body"] == {"text": "ok", "n": [1, 2]}]
    assert request["method"] == "POST" and request["path"] == "/query"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Trace"] == "abc"


def test_get_returns_status_and_body(server: FakeModelServer) -> None:
    reply = client().get(server.url + "/", 3.0, {"X-Trace": "get"})
    assert reply.status == 200 and reply.text() == "Hello, World!"
    gets = [r for r in server.requests() if r["headers"].get("X-Trace") == "get"]
    assert [(r["method"], r["path"], r["body"]) for r in gets] == [("GET", "/", None)]


def test_get_accepts_listed_error_statuses(server: FakeModelServer) -> None:
    assert client().get(server.url + "/nowhere", 3.0, accept_status=(404,)).status == 404
    with pytest.raises(RefPointError, match="HTTP 404") as info:
        client().get(server.url + "/nowhere", 3.0)
    assert info.value.status is Status.BACKEND_ERROR


def test_reply_exactly_at_the_size_limit_is_accepted(server: FakeModelServer) -> None:
    for key in ("at limit", "at limit unsized"):
        reply = post(server, key, max_response_bytes=LIMIT)
        assert isinstance(reply, dict) and len(reply["answer"]) > LIMIT - 40


# -- retries --------------------------------------------------------------------------------


def test_a_500_is_retried_then_succeeds(server: FakeModelServer) -> None:
    assert post(server, "flaky", max_retries=1) == {"result": 1, "answer": "second try"}
    assert len(sent(server, "flaky")) == 2


def test_a_dropped_connection_is_retried(server: FakeModelServer) -> None:
    assert post(server, "dropped once", max_retries=1) == {"result": 1, "answer": "after the drop"}
    assert len(sent(server, "dropped once")) == 2


def test_500s_exhaust_the_retries(server: FakeModelServer) -> None:
    before = len(sent(server, "always 500"))
    err = failure(server, "always 500", max_retries=2)
    assert err.status is Status.BACKEND_ERROR
    assert "HTTP 500" in err.message and "CUDA out of memory" in err.message
    assert "after 3 attempts" in err.message and f"{server.url}/query" in err.message
    body_quote = err.message.split("HTTP 500: ")[1].removesuffix(" (after 3 attempts)")
    assert len(body_quote) == 205  # the first 200 characters, quoted, then "..."
    assert len(sent(server, "always 500")) - before == 3


def test_4xx_is_never_retried(server: FakeModelServer) -> None:
    err = failure(server, "nobody recorded this prompt", max_retries=3)
    assert err.status is Status.BACKEND_ERROR and "HTTP 404" in err.message
    assert len(sent(server, "nobody recorded this prompt")) == 1


def test_no_retries_when_max_retries_is_zero(server: FakeModelServer) -> None:
    err = failure(server, "dropped", max_retries=0)
    assert "closed the connection" in err.message and "attempts" not in err.message
    assert len(sent(server, "dropped")) == 1


def test_dropped_connections_exhaust_the_retries(server: FakeModelServer) -> None:
    before = len(sent(server, "dropped"))
    err = failure(server, "dropped", max_retries=1)
    assert err.status is Status.BACKEND_ERROR
    assert "closed the connection without answering" in err.message
    assert "after 2 attempts" in err.message
    assert len(sent(server, "dropped")) - before == 2


def test_backoff_never_sleeps_past_the_deadline(server: FakeModelServer) -> None:
    started = time.monotonic()
    err = failure(server, "always 503 backoff", 1.0, max_retries=5, retry_backoff_s=5.0)
    assert time.monotonic() - started < 0.5  # a 5 s pause would not fit: give up at once
    assert err.status is Status.BACKEND_ERROR and "HTTP 503" in err.message


def test_connection_refused_names_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}/query"
    with pytest.raises(RefPointError) as info:
        client(max_retries=1).post_json(url, {"text": "ok"}, 3.0)
    assert info.value.status is Status.BACKEND_ERROR
    assert url in info.value.message and "refused" in info.value.message
    assert "after 2 attempts" in info.value.message


# -- timeouts -------------------------------------------------------------------------------


def test_slow_server_times_out_within_the_deadline(server: FakeModelServer) -> None:
    started = time.monotonic()
    err = failure(server, "slow", 0.5, max_retries=2)
    elapsed = time.monotonic() - started
    assert err.status is Status.BACKEND_TIMEOUT
    assert f"{server.url}/query" in err.message and "0.5 s" in err.message
    assert 0.45 <= elapsed < 1.0
    assert len(sent(server, "slow")) == 1  # timeouts are not retried


def test_zero_timeout_is_a_timeout_without_connecting(server: FakeModelServer) -> None:
    err = failure(server, "ok", 0.0)
    assert err.status is Status.BACKEND_TIMEOUT


def test_an_infinite_timeout_is_refused(server: FakeModelServer) -> None:
    err = failure(server, "ok", float("inf"))
    assert err.status is Status.BACKEND_ERROR and "inf" in err.message


def test_close_aborts_a_request_in_flight(server: FakeModelServer) -> None:
    http = client()
    errors: list[RefPointError] = []

    def run() -> None:
        try:
            http.post_json(f"{server.url}/query", {"text": "slow"}, 5.0)
        except RefPointError as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)
    http.close()
    thread.join(timeout=5.0)
    assert not thread.is_alive() and time.monotonic() - started < 1.5
    (err,) = errors
    assert err.status is Status.BACKEND_ERROR and "closed" in err.message
    with pytest.raises(RefPointError, match="closed"):
        http.post_json(f"{server.url}/query", {"text": "ok"}, 1.0)
    http.reopen()
    assert http.post_json(f"{server.url}/query", {"text": "ok"}, 3.0) == ANSWERS["ok"] | {
        "result": 1
    }


# -- sizes and garbage ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["over limit", "over limit unsized", "huge"])
def test_oversized_reply_is_refused(server: FakeModelServer, key: str) -> None:
    started = time.monotonic()
    err = failure(server, key, max_response_bytes=LIMIT)
    assert err.status is Status.BACKEND_ERROR
    assert "max_response_bytes is 4096" in err.message and f"{server.url}/query" in err.message
    assert time.monotonic() - started < 2.0


def test_request_body_over_the_limit_is_refused_before_sending(server: FakeModelServer) -> None:
    payload = {"text": "ok", "pad": "z" * 5000}
    with pytest.raises(RefPointError) as info:
        client(max_request_bytes=5000).post_json(f"{server.url}/query", payload, 3.0)
    assert info.value.status is Status.BACKEND_ERROR
    size = len(json.dumps(payload, separators=(",", ":")))
    assert (
        f"is {size} bytes" in info.value.message
        and "max_request_bytes is 5000" in info.value.message
    )
    assert not [r for r in server.requests() if "pad" in (r["body"] or {})]


def test_garbage_reply_is_quoted(server: FakeModelServer) -> None:
    err = failure(server, "garbage")
    assert err.status is Status.BACKEND_ERROR
    assert "is not JSON: '<html>Internal error</html> yyy" in err.message
    assert err.message.endswith("y'...")  # 80 characters, quoted, then "..."
    assert "y" * 60 not in err.message


def test_decode_json_accepts_any_json_value() -> None:
    assert decode_json(b"[1, 2]", "http://h/x") == [1, 2]
    with pytest.raises(RefPointError, match=r"http://h/x is not JSON: '\\x00'"):
        decode_json(b"\x00", "http://h/x")


# -- URLs and secrets -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://host/query", "file:///etc/passwd", "host:25547", ""])
def test_only_http_urls(url: str) -> None:
    with pytest.raises(RefPointError) as info:
        client().post_json(url, {}, 1.0)
    assert info.value.status is Status.BACKEND_ERROR
    assert "http://" in info.value.message or "no host" in info.value.message


def test_check_url_rejects_a_bad_port() -> None:
    with pytest.raises(RefPointError, match="server_url 'http://h:99999'"):
        check_url("http://h:99999", "server_url")
    assert check_url(" https://h:8000/v1 ") == "https://h:8000/v1"


def test_redact_url_drops_credentials() -> None:
    assert redact_url("https://user:pw@h:8/v1/x?key=abc") == "https://h:8/v1/x"


def test_secret_headers_never_reach_messages_or_logs(
    server: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET}
    with pytest.raises(RefPointError) as info:
        client(max_retries=1).post_json(f"{server.url}/query", {"text": "echo 500"}, 3.0, headers)
    err = info.value
    (request, *_) = sent(server, "echo 500")
    assert request["headers"]["Authorization"] == f"Bearer {SECRET}"  # it was sent...
    assert "HTTP 500" in err.message and "bad request from" in err.message  # ...and echoed back
    assert SECRET not in err.message and SECRET not in str(err)
    assert "Authorization" in err.message  # the echo itself is kept, only the value is masked
    assert "retry 1 of 1" in caplog.text
    assert SECRET not in caplog.text


def test_settings_are_validated() -> None:
    for bad in (
        {"connect_timeout_s": 0.0},
        {"connect_timeout_s": float("nan")},
        {"max_retries": -1},
        {"max_request_bytes": 0},
        {"max_response_bytes": 1.5},
        {"retry_backoff_s": -1.0},
    ):
        ((name, value),) = bad.items()
        with pytest.raises(RefPointError, match=name) as info:
            HttpSettings(**bad)
        assert info.value.status is Status.BACKEND_ERROR and repr(value) in info.value.message


def test_fake_server_stops_on_sigterm(tmp_path: Path) -> None:
    fake = FakeModelServer("roborefer", ANSWERS, tmp_path).start()
    proc = fake._proc
    assert proc is not None and proc.poll() is None
    started = time.monotonic()
    fake.stop()
    assert proc.returncode == 0 and time.monotonic() - started < 2.0


def test_fake_server_exits_after_its_lifetime(tmp_path: Path) -> None:
    fake = FakeModelServer("roborefer", ANSWERS, tmp_path, lifetime_s=0.3).start()
    proc = fake._proc
    assert proc is not None
    assert proc.wait(timeout=5.0) == 0
    fake.stop()
