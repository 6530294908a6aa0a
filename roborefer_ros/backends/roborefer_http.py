"""``roborefer_http`` backend: the authors' RoboRefer Flask server, spoken exactly as it expects.

Protocol (the authors' server, default port 25547)::

    GET  /       -> "Hello, World!"
    POST /query  {"image_url": [<raw base64 of the image file>], "depth_url": [<base64 PNG>] | [],
                  "enable_depth": 0 | 1, "text": <instruction + " " + pointing suffix>}
             <- {"result": 1, "answer": "[(0.341, 0.510)]"}

The image list holds raw base64 file bytes, not data URIs. The answer is parsed with the strict
grammar of the configured format, in the coordinates of the image that was sent.
"""

from __future__ import annotations

import time

from roborefer_ros.backends.base import Answer, PointingQuery
from roborefer_ros.backends.http_client import (
    HttpSettings,
    JsonAscii,
    JsonHttpClient,
    check_url,
    post_within_deadline,
    redact_url,
)
from roborefer_ros.backends.image_codec import (
    DEFAULT_JPEG_QUALITY,
    ImageEncoding,
    check_jpeg_quality,
    encode_depth_png,
    encode_rgb,
)
from roborefer_ros.backends.parsers import AnswerFormat, parse_points
from roborefer_ros.backends.prompt import build_roborefer_prompt
from roborefer_ros.core.status import RefPointError, Status

DEPTH_SOURCES = ("none", "sensor", "estimated")
HEALTH_TIMEOUT_S = 5.0  # GET / on load: the server answers it without touching the model


def answer_format_option(value: str | AnswerFormat, default: AnswerFormat) -> AnswerFormat:
    """An answer format from an option ("" = ``default``), else BACKEND_ERROR naming it."""
    if isinstance(value, AnswerFormat):
        return value
    if not value.strip():
        return default
    try:
        return AnswerFormat.parse(value)
    except ValueError as err:
        raise RefPointError(Status.BACKEND_ERROR, f"answer_format: {err}") from None


def depth_source_option(value: str) -> str:
    """``value`` if it names a depth source, else BACKEND_ERROR naming it."""
    key = value.strip().lower()
    if key not in DEPTH_SOURCES:
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"unknown depth_source {value!r}; known: {'|'.join(DEPTH_SOURCES)}",
        )
    return key


class RoboReferHttpBackend:
    """Client of the authors' server.

    Depth is sent (``enable_depth`` 1) when a query carries ``depth_for_model``. ``depth_source``
    says where that image comes from ("sensor" or "estimated") and is what the answer reports;
    None takes it from the query; "none" means RGB-only: depth is never sent, even if a query
    carries one. An answer given without depth reports "none".
    """

    name = "roborefer_http"

    def __init__(
        self,
        server_url: str,
        settings: HttpSettings | None = None,
        answer_format: str | AnswerFormat = AnswerFormat.ROBOREFER,
        image_encoding: str | ImageEncoding = ImageEncoding.PNG,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        depth_source: str | None = None,
    ) -> None:
        self.server_url = check_url(server_url, "server_url").rstrip("/")
        self.format = answer_format_option(answer_format, AnswerFormat.ROBOREFER)
        self.image_encoding = (
            image_encoding
            if isinstance(image_encoding, ImageEncoding)
            else ImageEncoding.parse(image_encoding)
        )
        self.jpeg_quality = check_jpeg_quality(jpeg_quality)
        self.depth_source = None if depth_source is None else depth_source_option(depth_source)
        self.client = JsonHttpClient(settings)

    def __repr__(self) -> str:
        return f"RoboReferHttpBackend({redact_url(self.server_url)!r}, {self.format.value})"

    def load(self) -> None:
        """Check that the server answers ``GET /`` like the authors' server does."""
        self.client.reopen()
        url = self.server_url + "/"
        timeout_s = self.client.settings.connect_timeout_s + HEALTH_TIMEOUT_S
        try:
            reply = self.client.get(url, timeout_s)
        except RefPointError as err:
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"the RoboRefer server at {redact_url(url)} is not reachable: {err.message}",
            ) from None
        if "hello" not in reply.text(200).lower():
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"{redact_url(url)} answered GET / with {reply.text(80)!r}, not the RoboRefer "
                "server's 'Hello, World!'; is server_url right?",
            )

    def close(self) -> None:
        self.client.close()

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        started = time.monotonic()
        image = encode_rgb(query.rgb, self.image_encoding, self.jpeg_quality)
        depth_urls: list[JsonAscii] = []
        depth_source = "none"
        if query.depth_for_model is not None and self.depth_source != "none":
            depth_urls.append(encode_depth_png(query.depth_for_model).base64_json())
            depth_source = self.depth_source or query.depth_source
        payload = {
            "image_url": [image.base64_json()],
            "depth_url": depth_urls,
            "enable_depth": 1 if depth_urls else 0,
            "text": build_roborefer_prompt(query.instruction),
        }
        url = self.server_url + "/query"
        reply = post_within_deadline(self.client, url, payload, started, timeout_s)
        answer = _answer_text(reply, url)
        points = parse_points(answer, self.format, image.size)
        return Answer(
            raw_text=answer,
            points_norm=points,
            model_image_size=image.size,
            latency_s=time.monotonic() - started,
            depth_source=depth_source,
        )


def _answer_text(reply: object, url: str) -> str:
    """The ``answer`` string of a reply, else BACKEND_ERROR quoting the reply."""
    if isinstance(reply, dict):
        answer = reply.get("answer")
        if isinstance(answer, str):
            return answer
        problem = "has no 'answer'" if answer is None else f"has a {type(answer).__name__} 'answer'"
    else:
        problem = f"is a JSON {type(reply).__name__}, not an object"
    excerpt = repr(reply)[:120]
    raise RefPointError(
        Status.BACKEND_ERROR, f"the reply of {redact_url(url)} {problem}: {excerpt}"
    )
