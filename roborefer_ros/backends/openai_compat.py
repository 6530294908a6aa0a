"""``openai`` backend: any pointing VLM behind an OpenAI-compatible chat API (vLLM, SGLang, ...).

One user message with the image (a data URI) and the prompt; greedy decoding. The prompt and the
answer grammar come in pairs per model family (``FAMILY_DEFAULTS``), since each family was trained
to answer its own prompt in its own coordinates. The API key is read from the environment when
the backend loads and is only ever sent as an ``Authorization`` header: never logged, never in a
message or repr (error texts are scrubbed of it, even when a server echoes it back).
"""

from __future__ import annotations

import logging
import os
import time

from roborefer_ros.backends.base import Answer, PointingQuery
from roborefer_ros.backends.http_client import (
    HttpSettings,
    JsonHttpClient,
    check_url,
    decode_json,
    post_within_deadline,
    redact_url,
)
from roborefer_ros.backends.image_codec import (
    DEFAULT_JPEG_QUALITY,
    ImageEncoding,
    check_jpeg_quality,
    check_max_side,
    encode_rgb,
)
from roborefer_ros.backends.parsers import AnswerFormat, parse_points
from roborefer_ros.backends.prompt import FAMILY_DEFAULTS, fill_template
from roborefer_ros.backends.roborefer_http import answer_format_option
from roborefer_ros.core.status import RefPointError, Status

_LOG = logging.getLogger(__name__)

DEFAULT_FORMAT = AnswerFormat.QWEN25  # the usual open pointing VLM behind such servers
MODELS_TIMEOUT_S = 5.0


class OpenAICompatBackend:
    """Client of ``POST {base_url}/chat/completions``.

    ``max_image_side`` shrinks the image before encoding (keeping its aspect ratio); the answer's
    ``model_image_size`` is then the size sent, so absolute-pixel answers (qwen2.5) still map back
    to the right place in the full frame.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        settings: HttpSettings | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        answer_format: str | AnswerFormat = "",
        prompt_template: str = "",
        image_encoding: str | ImageEncoding = ImageEncoding.PNG,
        jpeg_quality: int = DEFAULT_JPEG_QUALITY,
        max_tokens: int = 256,
        max_image_side: int | None = None,
        check_models: bool = True,
    ) -> None:
        self.base_url = check_url(base_url, "openai_base_url").rstrip("/")
        if not model.strip():
            raise RefPointError(Status.BACKEND_ERROR, "the openai backend needs openai_model")
        self.model = model.strip()
        self.api_key_env = api_key_env.strip()
        self.format = answer_format_option(answer_format, DEFAULT_FORMAT)
        self.template = prompt_template or FAMILY_DEFAULTS[self.format]
        if "{object}" not in self.template:
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"prompt_template {self.template!r} has no {{object}} placeholder",
            )
        self.image_encoding = (
            image_encoding
            if isinstance(image_encoding, ImageEncoding)
            else ImageEncoding.parse(image_encoding)
        )
        self.jpeg_quality = check_jpeg_quality(jpeg_quality)
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise RefPointError(
                Status.BACKEND_ERROR, f"max_tokens must be a positive integer, got {max_tokens!r}"
            )
        self.max_tokens = max_tokens
        self.max_image_side = check_max_side(max_image_side)
        self.check_models = check_models
        self.client = JsonHttpClient(settings)
        self.__api_key: str | None = None
        self.__key_read = False

    def __repr__(self) -> str:
        return (
            f"OpenAICompatBackend({redact_url(self.base_url)!r}, model={self.model!r}, "
            f"format={self.format.value})"
        )

    def load(self) -> None:
        """Read the API key (absent is fine for local servers) and check ``GET /models``."""
        self.client.reopen()
        self._read_key()
        if not self.check_models:
            return
        url = self.base_url + "/models"
        timeout_s = self.client.settings.connect_timeout_s + MODELS_TIMEOUT_S
        try:
            reply = self.client.get(url, timeout_s, self._headers(), accept_status=(404,))
        except RefPointError as err:
            raise RefPointError(
                Status.BACKEND_ERROR,
                f"the OpenAI-compatible server at {redact_url(self.base_url)} failed its check: "
                f"{err.message}",
            ) from None
        if reply.status == 404:
            _LOG.info("%s has no /models; skipping the model check", redact_url(self.base_url))
            return
        served = _model_ids(decode_json(reply.body, url))
        if served and self.model not in served:
            _LOG.warning(
                "model %r is not among those %s lists: %s",
                self.model,
                redact_url(url),
                ", ".join(sorted(served)[:10]),
            )

    def close(self) -> None:
        self.client.close()

    def prompt(self, instruction: str) -> str:
        """The text sent for ``instruction``: the template with ``{object}`` filled in."""
        return fill_template(self.template, instruction)

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        started = time.monotonic()
        if not self.__key_read:
            self._read_key()
        image = encode_rgb(query.rgb, self.image_encoding, self.jpeg_quality, self.max_image_side)
        payload = {
            "model": self.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": image.data_uri_json()}},
                        {"type": "text", "text": self.prompt(query.instruction)},
                    ],
                }
            ],
            "temperature": 0,
            "max_tokens": self.max_tokens,
        }
        url = self.base_url + "/chat/completions"
        reply = post_within_deadline(self.client, url, payload, started, timeout_s, self._headers())
        answer = _content_text(reply, url)
        points = parse_points(answer, self.format, image.size)
        return Answer(
            raw_text=answer,
            points_norm=points,
            model_image_size=image.size,
            latency_s=time.monotonic() - started,
            depth_source="none",
        )

    def _read_key(self) -> None:
        key = os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""
        self.__api_key = key or None
        self.__key_read = True
        if self.__api_key is None:
            _LOG.info("no API key in $%s: requests go without Authorization", self.api_key_env)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__api_key}"} if self.__api_key else {}


def _content_text(reply: object, url: str) -> str:
    """``choices[0].message.content`` as text (a string or a list of text parts)."""
    content: object = None
    if isinstance(reply, dict):
        choices = reply.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict):
                content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        if texts:
            return "".join(texts)
    raise RefPointError(
        Status.BACKEND_ERROR,
        f"the reply of {redact_url(url)} has no choices[0].message.content text: "
        f"{repr(reply)[:120]}",
    )


def _model_ids(listing: object) -> set[str]:
    """Model ids of a ``GET /models`` reply (empty when the shape is unfamiliar)."""
    if not isinstance(listing, dict) or not isinstance(listing.get("data"), list):
        return set()
    return {str(item["id"]) for item in listing["data"] if isinstance(item, dict) and "id" in item}
