"""A small JSON-over-HTTP client for model servers, bounded in time, size and retries.

Why not urllib: it has one timeout for connecting and for each socket read, so a server that
trickles its reply can hold a request far past its deadline. Here the connect timeout is its own
setting and every read waits at most for what is left of the whole request's deadline.

Rules, each an error with a status and a message naming the URL (never a header: API keys travel
in headers and must not reach logs):

- only ``http://`` and ``https://`` URLs; anything else is BACKEND_ERROR;
- a request body above ``max_request_bytes`` is refused before connecting (BACKEND_ERROR);
- a reply above ``max_response_bytes`` is BACKEND_ERROR (at most limit + 1 bytes are read);
- a refused or reset connection and HTTP 5xx are retried up to ``max_retries`` times with a
  doubling backoff that never sleeps past the deadline; 4xx and timeouts are never retried;
- an HTTP error status is BACKEND_ERROR quoting the first 200 characters of the body;
- an exceeded deadline is BACKEND_TIMEOUT naming the URL and the seconds;
- a reply that is not JSON is BACKEND_ERROR quoting its first 80 characters.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Container, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from roborefer_ros.core.status import RefPointError, Status

_LOG = logging.getLogger(__name__)
_CHUNK_BYTES = 256 * 1024
_ERROR_BODY_CHARS = 200
_GARBAGE_CHARS = 80
_MAX_BACKOFF_S = 2.0
_PUBLIC_HEADERS = frozenset({"content-type", "accept", "user-agent", "content-length"})
_MIN_SECRET_CHARS = 4  # shorter values would scrub ordinary words out of messages


@dataclass(frozen=True)
class HttpSettings:
    """Limits of one client; validated on construction (BACKEND_ERROR naming the bad value)."""

    connect_timeout_s: float = 3.0
    max_retries: int = 1
    max_request_bytes: int = 32 * 1024 * 1024
    max_response_bytes: int = 1024 * 1024
    retry_backoff_s: float = 0.1  # first pause before a retry; doubles each time

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "retry_backoff_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0) or (
                name == "connect_timeout_s" and value == 0.0
            ):
                raise RefPointError(Status.BACKEND_ERROR, f"{name} must be > 0, got {value!r}")
        for name, low in (("max_retries", 0), ("max_request_bytes", 1), ("max_response_bytes", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise RefPointError(
                    Status.BACKEND_ERROR, f"{name} must be an integer >= {low}, got {value!r}"
                )


@dataclass(frozen=True)
class HttpReply:
    """A complete reply: status code and body bytes (at most ``max_response_bytes``)."""

    status: int
    body: bytes

    def text(self, limit: int | None = None) -> str:
        """The body as text (undecodable bytes replaced), cut at ``limit`` characters."""
        text = self.body.decode("utf-8", errors="replace")
        return text if limit is None else text[:limit]


def check_url(url: str, what: str = "url") -> str:
    """``url`` stripped if it is an http(s) URL with a host, else BACKEND_ERROR naming it."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as err:
        raise RefPointError(Status.BACKEND_ERROR, f"{what} {url!r} is not a URL: {err}") from None
    if parts.scheme not in ("http", "https"):
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"{what} {redact_url(url)!r} must start with http:// or https://",
        )
    if not parts.hostname:
        raise RefPointError(Status.BACKEND_ERROR, f"{what} {redact_url(url)!r} has no host")
    return url


def join_url(base: str, path: str) -> str:
    """``base`` + "/" + ``path`` with exactly one slash between them."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def redact_url(url: str) -> str:
    """The URL without user info or query string, which may hold credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    return SplitResult(parts.scheme, netloc, parts.path, "", "").geturl()


class _RetryableError(Exception):
    """One attempt failed in a way worth another try; carries the error to report if not."""

    def __init__(self, error: RefPointError) -> None:
        super().__init__(error.message)
        self.error = error


class JsonHttpClient:
    """Blocking, thread-safe; one connection per request (no pooling: requests are seconds long).

    ``close`` aborts requests in flight (their sockets are shut down) and refuses new ones.
    """

    def __init__(self, settings: HttpSettings | None = None) -> None:
        self.settings = settings or HttpSettings()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = list(self._open)
        for conn in connections:
            if conn.sock is not None:
                with contextlib.suppress(OSError):  # already closed by its own thread
                    conn.sock.shutdown(socket.SHUT_RDWR)

    def reopen(self) -> None:
        """Accept requests again after ``close`` (a backend loaded a second time)."""
        with self._lock:
            self._closed = False

    def get(
        self,
        url: str,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
        accept_status: Container[int] = (),
    ) -> HttpReply:
        """GET ``url``; a status outside 2xx and ``accept_status`` is BACKEND_ERROR."""
        return self.request("GET", url, None, timeout_s, headers, accept_status)

    def post_json(
        self, url: str, payload: object, timeout_s: float, headers: Mapping[str, str] | None = None
    ) -> object:
        """POST ``payload`` as JSON and return the decoded JSON reply (any JSON value)."""
        body = json_body(payload)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        reply = self.request("POST", url, body, timeout_s, all_headers)
        return decode_json(reply.body, url)

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
        accept_status: Container[int] = (),
    ) -> HttpReply:
        """One request within ``timeout_s`` seconds in all, retries and backoff included.

        Every error message and log line is scrubbed of the header values (API keys), even when
        a server echoes them back in an error body.
        """
        secrets = _secrets(headers or {})
        try:
            return self._request(
                method, url, body, timeout_s, headers or {}, accept_status, secrets
            )
        except RefPointError as err:
            scrubbed = _scrub(err.message, secrets)
            if scrubbed == err.message:
                raise
            raise RefPointError(err.status, scrubbed, err.raw_answer) from None

    def _request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        timeout_s: float,
        headers: Mapping[str, str],
        accept_status: Container[int],
        secrets: list[str],
    ) -> HttpReply:
        if not math.isfinite(timeout_s):
            raise RefPointError(Status.BACKEND_ERROR, f"timeout must be finite, got {timeout_s}")
        deadline = time.monotonic() + timeout_s
        check_url(url)
        shown = redact_url(url)
        limit = self.settings.max_request_bytes
        if body is not None and len(body) > limit:
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"request body for {shown} is {len(body)} bytes; max_request_bytes is {limit}",
            )
        attempts = 1 + self.settings.max_retries
        backoff_s = self.settings.retry_backoff_s
        for attempt in range(1, attempts + 1):
            try:
                reply = self._attempt(method, url, body, headers, deadline, timeout_s)
            except _RetryableError as failed:
                pause_s = min(backoff_s, _MAX_BACKOFF_S)
                if attempt == attempts or pause_s >= deadline - time.monotonic():
                    raise self._final(failed.error, attempt) from None  # no time for another
                _LOG.warning(
                    "%s; retry %d of %d in %.2f s",
                    _scrub(failed.error.message, secrets),
                    attempt,
                    attempts - 1,
                    pause_s,
                )
                time.sleep(pause_s)
                backoff_s *= 2.0
                continue
            if 200 <= reply.status < 300 or reply.status in accept_status:
                return reply
            raise _status_error(method, url, reply)
        raise AssertionError("unreachable: the loop returns or raises")

    def _final(self, error: RefPointError, attempts: int) -> RefPointError:
        if attempts == 1:
            return error
        return RefPointError(error.status, f"{error.message} (after {attempts} attempts)")

    def _attempt(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        deadline: float,
        timeout_s: float,
    ) -> HttpReply:
        """One try; ``_RetryableError`` for connection failures and 5xx, else RefPointError."""
        parts = urlsplit(url)
        shown = redact_url(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        left_s = deadline - time.monotonic()
        if left_s <= 0.0:
            raise _timeout(method, shown, timeout_s)
        connect_s = min(self.settings.connect_timeout_s, left_s)
        conn_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_type(parts.hostname or "", parts.port, timeout=connect_s)
        with self._lock:
            if self._closed:
                raise RefPointError(Status.BACKEND_ERROR, f"the HTTP client for {shown} is closed")
            self._open.add(conn)
        phase = "connect"
        try:
            conn.connect()
            phase = "send"
            _set_timeout(conn, deadline)
            conn.request(method, target, body=body, headers=dict(headers))
            phase = "reply"
            _set_timeout(conn, deadline)
            response = conn.getresponse()
            reply = HttpReply(response.status, self._read_body(conn, response, deadline, url))
        except TimeoutError:
            if phase == "connect":
                raise RefPointError(
                    Status.BACKEND_TIMEOUT,
                    f"could not connect to {shown} within {connect_s:.3g} s",
                ) from None
            raise _timeout(method, shown, timeout_s) from None
        except ConnectionError as err:
            if self._closed:
                raise _closed_error(method, shown) from None
            raise _RetryableError(_connection_error(method, shown, err)) from None
        except (OSError, http.client.HTTPException) as err:
            if self._closed:
                raise _closed_error(method, shown) from None
            raise RefPointError(
                Status.BACKEND_ERROR, f"{method} {shown} failed: {_describe(err)}"
            ) from None
        finally:
            conn.close()
            with self._lock:
                self._open.discard(conn)
        if reply.status >= 500:
            raise _RetryableError(_status_error(method, url, reply))
        return reply

    def _read_body(
        self,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        deadline: float,
        url: str,
    ) -> bytes:
        """At most ``max_response_bytes`` of body, each read bounded by the deadline."""
        limit = self.settings.max_response_bytes
        shown = redact_url(url)
        declared = response.getheader("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            raise _too_large(shown, f"declares {int(declared)} bytes", limit)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            _set_timeout(conn, deadline)
            chunk = response.read1(min(_CHUNK_BYTES, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _too_large(shown, f"is more than {limit} bytes", limit)
        return b"".join(chunks)


def decode_json(body: bytes, url: str) -> object:
    """The JSON value of ``body``, or BACKEND_ERROR quoting its first 80 characters."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        text = body.decode("utf-8", errors="replace")
        excerpt = repr(text[:_GARBAGE_CHARS]) + ("..." if len(text) > _GARBAGE_CHARS else "")
        raise RefPointError(
            Status.BACKEND_ERROR, f"reply from {redact_url(url)} is not JSON: {excerpt}"
        ) from None


def _secrets(headers: Mapping[str, str]) -> list[str]:
    """Header values that may be credentials, longest first (and the token of "Bearer xyz")."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() in _PUBLIC_HEADERS:
            continue
        for candidate in (value.strip(), value.strip().rpartition(" ")[2]):
            if len(candidate) >= _MIN_SECRET_CHARS:
                found.add(candidate)
    return sorted(found, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _set_timeout(conn: http.client.HTTPConnection, deadline: float) -> None:
    """Let the next socket operation wait at most until the deadline."""
    left_s = deadline - time.monotonic()
    if left_s <= 0.0:
        raise TimeoutError
    if conn.sock is not None:
        conn.sock.settimeout(left_s)


def _timeout(method: str, shown: str, timeout_s: float) -> RefPointError:
    return RefPointError(
        Status.BACKEND_TIMEOUT, f"{method} {shown} did not answer within {timeout_s:.3g} s"
    )


def _closed_error(method: str, shown: str) -> RefPointError:
    return RefPointError(Status.BACKEND_ERROR, f"{method} {shown}: the client was closed")


def _too_large(shown: str, how: str, limit: int) -> RefPointError:
    return RefPointError(
        Status.BACKEND_ERROR, f"reply from {shown} {how}; max_response_bytes is {limit}"
    )


def _status_error(method: str, url: str, reply: HttpReply) -> RefPointError:
    text = reply.text()
    excerpt = repr(text[:_ERROR_BODY_CHARS]) + ("..." if len(text) > _ERROR_BODY_CHARS else "")
    return RefPointError(
        Status.BACKEND_ERROR,
        f"{method} {redact_url(url)} answered HTTP {reply.status}: {excerpt}",
    )


def _connection_error(method: str, shown: str, err: ConnectionError) -> RefPointError:
    if isinstance(err, ConnectionRefusedError):
        what = "connection refused (is the server running?)"
    elif isinstance(err, http.client.RemoteDisconnected):
        what = "the server closed the connection without answering"
    else:
        what = f"connection lost ({_describe(err)})"
    return RefPointError(Status.BACKEND_ERROR, f"{method} {shown} failed: {what}")


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


@dataclass(frozen=True)
class JsonAscii:
    """A JSON string value given as ASCII bytes that need no escaping (base64 text, a data URI):
    ``json_body`` puts it into the body as it is. Made from base64 output only; the
    C-speed checks here refuse non-ASCII bytes, quotes and backslashes (ValueError)."""

    text: bytes

    def __post_init__(self) -> None:
        if not self.text.isascii() or b'"' in self.text or b"\\" in self.text:
            raise ValueError("JsonAscii text must be ASCII without quotes or backslashes")


def json_body(payload: object) -> bytes:
    """``payload`` as compact UTF-8 JSON; each ``JsonAscii`` in it becomes a JSON string whose
    bytes are copied in, not scanned (json.dumps takes ~20 ms for a 1280x720 frame's base64)."""
    blobs: list[bytes] = []
    tag = f"@roborefer-blob-{id(blobs):x}-"

    def stand_in(value: object) -> str:
        if not isinstance(value, JsonAscii):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        blobs.append(value.text)
        return f"{tag}{len(blobs) - 1}@"

    body = json.dumps(payload, separators=(",", ":"), default=stand_in).encode("utf-8")
    for i, blob in enumerate(blobs):
        body = body.replace(f'"{tag}{i}@"'.encode(), b'"' + blob + b'"', 1)
    return body


def post_within_deadline(
    client: JsonHttpClient,
    url: str,
    payload: object,
    started: float,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
) -> object:
    """POST what is left of a backend's deadline (encoding already spent some of it).

    A timeout names the whole model deadline, the number a person configured.
    """
    left_s = timeout_s - (time.monotonic() - started)
    try:
        return client.post_json(url, payload, left_s, headers)
    except RefPointError as err:
        if err.status is not Status.BACKEND_TIMEOUT:
            raise
        raise RefPointError(
            err.status, f"{err.message} (model deadline {timeout_s:g} s, encoding included)"
        ) from None
