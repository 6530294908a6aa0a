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


_FACTORIES: dict[str, Callable[[BackendOptions], Backend]] = {
    "ground_truth": _make_ground_truth,
    "recorded": _make_recorded,
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
