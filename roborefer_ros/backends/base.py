"""The seam between the ROS-free core and every pointing model.

A backend turns one frozen colour image (plus, optionally, a model-ready depth image) and an
instruction into 2D points. It never sees ROS messages, TF or metric depth: lifting pixels into 3D
is the core's job, so every backend is testable with plain arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from roborefer_ros.core.request import Mode


@dataclass(frozen=True)
class PointingQuery:
    """What a backend is asked.

    ``rgb``: HxWx3 uint8, RGB channel order, the frozen frame's colour image.
    ``instruction``: the user's text only; each backend adds its own prompt suffix or template.
    ``stamp_ns``: the frozen frame's stamp (ground-truth lookups and logs key on it).
    ``depth_for_model``: HxWx3 uint8 model-ready depth (near = bright) or None for RGB-only.
    ``depth_source``: "none", "sensor" or "estimated": where ``depth_for_model`` came from; a
    backend that gives the depth to its model reports it in ``Answer.depth_source``.
    """

    rgb: npt.NDArray[np.uint8]
    instruction: str
    mode: Mode
    stamp_ns: int
    depth_for_model: npt.NDArray[np.uint8] | None = None
    depth_source: str = "none"


@dataclass(frozen=True)
class Answer:
    """What a backend answered, already parsed and validated.

    ``points_norm``: (x, y) with x = column / width and y = row / height of the image the model
    saw, each in [0, 1] after ``parsers.validate_points``; never empty.
    ``model_image_size``: (width, height) of the image the model saw, to map points back.
    ``raw_text``: the model's answer verbatim, for logs and debugging.
    ``depth_source``: "none", "sensor" or "estimated": which depth the model was given.
    """

    raw_text: str
    points_norm: tuple[tuple[float, float], ...]
    model_image_size: tuple[int, int]
    latency_s: float
    depth_source: str


class Backend(Protocol):
    """A pointing model behind a uniform, blocking interface.

    ``point`` blocks up to ``timeout_s`` and so must run off the executor thread. It raises
    ``RefPointError`` with BACKEND_ERROR, BACKEND_TIMEOUT, PARSE_ERROR or OUT_OF_IMAGE; it never
    returns an Answer without points.
    """

    name: str

    def load(self) -> None:
        """Do the heavy work (weights, connections) once, when the node activates."""

    def point(self, query: PointingQuery, timeout_s: float) -> Answer:
        """Answer one query within ``timeout_s`` seconds."""

    def close(self) -> None:
        """Release resources; a later ``point`` may fail with BACKEND_ERROR."""
