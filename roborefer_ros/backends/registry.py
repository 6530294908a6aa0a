"""Backends by configuration name. Adding a backend means adding one factory entry here."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from roborefer_ros.backends.base import Backend
from roborefer_ros.backends.ground_truth import GroundTruthBackend
from roborefer_ros.backends.recorded import RecordedBackend
from roborefer_ros.core.referring import ReferringFileError
from roborefer_ros.core.status import RefPointError, Status


@dataclass(frozen=True)
class BackendOptions:
    """Everything a factory may need, validated by the factory that uses it."""

    referring_file: str = ""  # ground_truth: the referring.json to answer from
    simulated_latency_s: float = 0.0  # ground_truth: simulated model latency
    answers_file: str = ""  # recorded: the answers JSON to replay
    # HTTP backends (roborefer_http, openai)
    server_url: str = "http://127.0.0.1:25547"  # roborefer_http: the authors' Flask server
    openai_base_url: str = "http://127.0.0.1:8000/v1"  # openai: OpenAI-compatible API root
    openai_model: str = ""  # openai: model name on that server
    api_key_env: str = "OPENAI_API_KEY"  # openai: environment variable holding the key
    answer_format: str = ""  # "" = the backend's default format (see parsers.AnswerFormat)
    prompt_template: str = ""  # "" = the model family's default; "{object}" = the instruction
    image_encoding: str = "png"  # png | jpeg: how images travel to HTTP backends
    jpeg_quality: int = 90
    connect_timeout_s: float = 3.0
    max_retries: int = 1  # retries after a connection failure or HTTP 5xx
    max_request_bytes: int = 32 * 1024 * 1024
    max_response_bytes: int = 1024 * 1024
    # depth the model sees (RoboRefer was trained on relative inverse depth)
    depth_source: str = "none"  # none | sensor | estimated
    depth_model_path: str = ""  # estimated: local Depth-Anything-V2 folder (transformers)
    # in-process transformers backend
    model_path: str = ""  # local folder of a Hugging Face VLM (no hub access)
    device: str = "cpu"  # cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    max_new_tokens: int = 64  # transformers and openai: answer length limit
    max_image_side: int = 0  # openai and transformers: downscale the longer side to this; 0 = off
    # embedded: the pointing network trained here on simulated tabletops (never a default)
    embedded_weights: str = ""  # "" = the shipped data/models/embedded_pointer.safetensors


def _make_ground_truth(options: BackendOptions) -> Backend:
    if not options.referring_file:
        raise RefPointError(Status.BACKEND_ERROR, "the ground_truth backend needs referring_file")
    latency_s = options.simulated_latency_s
    if not (math.isfinite(latency_s) and latency_s >= 0.0):
        raise RefPointError(
            Status.BACKEND_ERROR, f"simulated_latency_s must be finite and >= 0, got {latency_s}"
        )
    try:
        return GroundTruthBackend.from_file(options.referring_file, latency_s=latency_s)
    except ReferringFileError as err:
        raise RefPointError(Status.BACKEND_ERROR, str(err)) from err


def _make_recorded(options: BackendOptions) -> Backend:
    if not options.answers_file:
        raise RefPointError(Status.BACKEND_ERROR, "the recorded backend needs answers_file")
    return RecordedBackend.from_file(options.answers_file)


def _make_roborefer_http(options: BackendOptions) -> Backend:
    from roborefer_ros.backends.http_client import HttpSettings
    from roborefer_ros.backends.roborefer_http import RoboReferHttpBackend

    return RoboReferHttpBackend(
        options.server_url,
        HttpSettings(
            connect_timeout_s=options.connect_timeout_s,
            max_retries=options.max_retries,
            max_request_bytes=options.max_request_bytes,
            max_response_bytes=options.max_response_bytes,
        ),
        answer_format=options.answer_format,
        image_encoding=options.image_encoding,
        jpeg_quality=options.jpeg_quality,
        depth_source=options.depth_source,
    )


def _make_openai(options: BackendOptions) -> Backend:
    from roborefer_ros.backends.http_client import HttpSettings
    from roborefer_ros.backends.openai_compat import OpenAICompatBackend

    return OpenAICompatBackend(
        options.openai_base_url,
        options.openai_model,
        HttpSettings(
            connect_timeout_s=options.connect_timeout_s,
            max_retries=options.max_retries,
            max_request_bytes=options.max_request_bytes,
            max_response_bytes=options.max_response_bytes,
        ),
        api_key_env=options.api_key_env,
        answer_format=options.answer_format,
        prompt_template=options.prompt_template,
        image_encoding=options.image_encoding,
        jpeg_quality=options.jpeg_quality,
        max_tokens=options.max_new_tokens,
        max_image_side=options.max_image_side or None,
    )


def _make_transformers(options: BackendOptions) -> Backend:
    from roborefer_ros.backends.parsers import AnswerFormat
    from roborefer_ros.backends.transformers_vlm import TransformersVLMBackend

    try:
        answer_format = AnswerFormat.parse(options.answer_format or AnswerFormat.QWEN25.value)
    except ValueError as err:
        raise RefPointError(Status.BACKEND_ERROR, str(err)) from None
    return TransformersVLMBackend(
        options.model_path,
        device=options.device,
        dtype=options.dtype,
        max_new_tokens=options.max_new_tokens,
        answer_format=answer_format,
        prompt_template=options.prompt_template,
        max_image_side=options.max_image_side,
    )


def _make_embedded(options: BackendOptions) -> Backend:
    from roborefer_ros.backends.embedded.backend import EmbeddedBackend

    return EmbeddedBackend(options.embedded_weights)


_FACTORIES: dict[str, Callable[[BackendOptions], Backend]] = {
    "ground_truth": _make_ground_truth,
    "recorded": _make_recorded,
    "transformers": _make_transformers,
    "roborefer_http": _make_roborefer_http,
    "openai": _make_openai,
    "embedded": _make_embedded,
}


def known_backends() -> tuple[str, ...]:
    """Configuration names make_backend accepts, sorted."""
    return tuple(sorted(_FACTORIES))


def make_backend(name: str, options: BackendOptions) -> Backend:
    """A new, not yet loaded backend; BACKEND_ERROR for an unknown name or bad options."""
    factory = _FACTORIES.get(name.strip())
    if factory is None:
        raise RefPointError(
            Status.BACKEND_ERROR,
            f"unknown backend {name!r}; known: {', '.join(known_backends())}",
        )
    return factory(options)
