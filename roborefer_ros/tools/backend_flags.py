"""The backend command-line flags shared by ``roborefer-query`` and ``roborefer-bench``.

One definition, so every tool that runs a backend accepts the same flags with the same defaults
(those of ``BackendOptions``) and turns them into options the same way.
"""

from __future__ import annotations

import argparse

from roborefer_ros.backends.registry import BackendOptions, known_backends
from roborefer_ros.tools.cli import non_negative_int, positive_float, positive_int

DEFAULT_BACKEND = "roborefer_http"
DEFAULT_TIMEOUT_S = 60.0


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend``, the backends' option flags and ``--timeout`` (model deadline, s).

    Flags whose ``dest`` is a ``BackendOptions`` field become options; ``backend`` and
    ``timeout`` are read by the tool itself.
    """
    p = parser.add_argument_group("backend")
    p.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help=f"one of {', '.join(known_backends())}",
    )
    p.add_argument(
        "--url", dest="server_url", default=BackendOptions.server_url, help="roborefer_http server"
    )
    p.add_argument("--base-url", dest="openai_base_url", default=BackendOptions.openai_base_url)
    p.add_argument("--model", dest="openai_model", default="", help="openai: model name")
    p.add_argument(
        "--api-key-env", default=BackendOptions.api_key_env, help="env var with the API key"
    )
    p.add_argument("--model-path", default="", help="transformers: local model folder")
    p.add_argument("--device", default=BackendOptions.device)
    p.add_argument("--dtype", default=BackendOptions.dtype)
    p.add_argument("--max-new-tokens", type=positive_int, default=BackendOptions.max_new_tokens)
    p.add_argument(
        "--max-image-side",
        type=non_negative_int,
        default=BackendOptions.max_image_side,
        help="openai/transformers: downscale the longer side to this; 0 = full size",
    )
    p.add_argument(
        "--format", dest="answer_format", default="", help="answer format (default: the backend's)"
    )
    p.add_argument(
        "--prompt-template", default="", help="template with {object} for the instruction"
    )
    p.add_argument("--image-encoding", default="png", choices=["png", "jpeg"])
    p.add_argument("--depth-source", default="none", choices=["none", "sensor", "estimated"])
    p.add_argument(
        "--depth-model-path", default="", help="estimated depth: local Depth-Anything-V2 folder"
    )
    p.add_argument(
        "--referring-file", default="", help="ground_truth backend (test instrumentation)"
    )
    p.add_argument("--answers-file", default="", help="recorded backend (test instrumentation)")
    p.add_argument(
        "--embedded-weights",
        default="",
        help="embedded backend: weights file (default: the shipped sim-trained network)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        help="model deadline in seconds",
    )


def backend_options_from_args(args: argparse.Namespace) -> BackendOptions:
    """The ``BackendOptions`` named by the parsed flags; unset fields keep their defaults."""
    names = BackendOptions.__dataclass_fields__
    given = {k: v for k, v in vars(args).items() if k in names}
    return BackendOptions(**given)
